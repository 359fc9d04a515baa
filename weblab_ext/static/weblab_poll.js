/* weblab_ext poll script: keeps a lab session alive while the page is open.
 *
 * Loaded as an external file (CSP-friendly: no inline code, no jQuery). Its <script> tag
 * carries the settings as data attributes:
 *   data-poll-url, data-logout-url, data-interval (ms), data-logout-on-close ("true"),
 *   data-callback (name of a global function called once the session is over).
 * It also dispatches a "weblab:session-ended" event on window with the reason.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var pollUrl = script.getAttribute("data-poll-url");
  var logoutUrl = script.getAttribute("data-logout-url");
  var interval = parseInt(script.getAttribute("data-interval"), 10) || 5000;
  var logoutOnClose = script.getAttribute("data-logout-on-close") === "true";
  var callbackName = script.getAttribute("data-callback");
  var retries = 0;
  var MAX_RETRIES = 3;
  var timer = null;
  var ended = false;

  function finish(reason) {
    if (ended) { return; }
    ended = true;
    if (timer !== null) { clearTimeout(timer); }
    window.dispatchEvent(new CustomEvent("weblab:session-ended", { detail: { reason: reason } }));
    if (callbackName && typeof window[callbackName] === "function") {
      window[callbackName](reason);
    }
  }

  function schedule(delay) {
    if (!ended) { timer = setTimeout(poll, delay); }
  }

  function poll() {
    fetch(pollUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 502 || response.status === 503) {
          // A restarting lab server: try again a few times before giving up.
          retries += 1;
          if (retries > MAX_RETRIES) { finish("unreachable"); } else { schedule(1500); }
          return null;
        }
        if (!response.ok) { finish("http-" + response.status); return null; }
        return response.json();
      })
      .then(function (reply) {
        if (reply === null || reply === undefined) { return; }
        retries = 0;
        if (reply.success) { schedule(interval); } else { finish(reply.reason || "inactive"); }
      })
      .catch(function () { finish("unreachable"); });
  }

  if (logoutOnClose && logoutUrl) {
    window.addEventListener("pagehide", function () {
      if (navigator.sendBeacon) { navigator.sendBeacon(logoutUrl); }
      else { fetch(logoutUrl, { method: "POST", keepalive: true, credentials: "same-origin" }); }
    });
  }
  window.weblabPoll = { stop: function () { finish("stopped"); }, pollNow: poll };
  schedule(interval);
}());
