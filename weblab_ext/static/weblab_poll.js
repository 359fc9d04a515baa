/* weblab_ext poll script: keeps a lab session alive while the page is open.
 *
 * Loaded as an external file (CSP-friendly: no inline code, no jQuery). Its <script> tag
 * carries the settings as data attributes:
 *   data-poll-url, data-logout-url, data-interval (ms),
 *   data-logout-on-close ("true": end the session when the tab is closed or the student goes
 *   to another site; submitting a form or following a same-origin link does not count),
 *   data-close-url (where that beacon goes: the server ends the session a few seconds later
 *   unless the session is polled first, which is how a reload, whose old page sends the
 *   same beacon, keeps it: the new page polls one second after it loads, and again two
 *   seconds later),
 *   data-callback (name of a global function called once the session is over),
 *   data-socketio ("true": also listen for the server's "weblab:session-ended" Socket.IO
 *   event and then go to the RLMS's back URL).
 * When the session ends it dispatches a "weblab:session-ended" event on window with
 * detail {reason, back} and calls the callback with (reason, back). Then, unless the callback
 * returned false, it leaves the dead lab page: for the RLMS's back URL when it knows it (the
 * poll reply and the Socket.IO event carry it), else for the logout URL, which logs out and
 * redirects there (or shows the lab's forbidden page). It stays when the lab is unreachable
 * (a navigation would only show a browser error) and after weblabPoll.stop(). A failed
 * poll (the network or the lab briefly gone) is retried every 1.5 s; the page gives up
 * ("unreachable") only after twice the poll interval without an answer, by when the
 * session has timed out on the server anyway.
 * A back URL is only ever an absolute http(s) URL without control characters (the server
 * checks it too); anything else (javascript:, data:, relative) is dropped, and the logout URL
 * is used instead.
 *
 * While an operator has the lab (or the session's device) under maintenance, the poll reply
 * carries a "notice": the script shows it in a banner at the top of the page (an element
 * with id "weblab-notice", role "status", text only: CSP-safe) and dispatches a
 * "weblab:notice" event on window with detail {message}; the student keeps the session. With
 * Socket.IO, the server's "weblab:notice" event makes it poll at once.
 *
 * window.weblabPoll: stop(), pollNow(), attachSocket(socket), ended (boolean).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var pollUrl = script.getAttribute("data-poll-url");
  var logoutUrl = script.getAttribute("data-logout-url");
  var interval = parseInt(script.getAttribute("data-interval"), 10) || 5000;
  var logoutOnClose = script.getAttribute("data-logout-on-close") === "true";
  var closeUrl = script.getAttribute("data-close-url") || logoutUrl;
  var callbackName = script.getAttribute("data-callback");
  var useSocket = script.getAttribute("data-socketio") === "true";
  var RETRY_DELAY = 1500;
  // After a reload the old page's close beacon may reach the server just after the new
  // page's first requests: these early polls cancel it within the server's grace.
  // (Never later than the regular interval: a short WEBLAB_TIMEOUT polls more often.)
  var earlyPolls = logoutOnClose ? [Math.min(1000, interval), Math.min(2000, interval)] : [];
  var lastAnswer = Date.now();
  var timer = null;
  var ended = false;
  var socket = null;

  function safeBack(url) {
    // The server's rule, checked again here: the URL is about to be navigated to.
    return typeof url === "string" && url === url.trim() &&
      !/[\u0000-\u001f\u007f-\u009f]/.test(url) && /^https?:\/\/[^\/?#]/i.test(url);
  }

  function finish(reason, back) {
    if (ended) { return; }
    back = safeBack(back) ? back : null;
    ended = true;
    api.ended = true;
    if (timer !== null) { clearTimeout(timer); }
    window.dispatchEvent(new CustomEvent("weblab:session-ended", {
      detail: { reason: reason, back: back }
    }));
    var keepPage = reason === "stopped" || reason === "unreachable";
    if (callbackName && typeof window[callbackName] === "function") {
      keepPage = window[callbackName](reason, back) === false || keepPage;
    }
    if (!keepPage && (back || logoutUrl)) { window.location.assign(back || logoutUrl); }
  }

  var shownNotice = "";

  function showNotice(message) {
    message = typeof message === "string" ? message : "";
    if (message === shownNotice) { return; }
    shownNotice = message;
    var banner = document.getElementById("weblab-notice");
    if (!message) {
      if (banner) { banner.parentNode.removeChild(banner); }
    } else {
      if (!banner) {
        banner = document.createElement("div");
        banner.id = "weblab-notice";
        banner.setAttribute("role", "status");
        // Set through the CSSOM: allowed under a style-src policy without 'unsafe-inline'.
        banner.style.cssText = "margin:0 0 .5em;padding:.6em 1em;background:#fff3cd;" +
          "color:#533f03;border:1px solid #e0c46c;font:15px/1.4 system-ui,sans-serif;" +
          "text-align:center";
        document.body.insertBefore(banner, document.body.firstChild);
      }
      banner.textContent = message;
    }
    window.dispatchEvent(new CustomEvent("weblab:notice", { detail: { message: message } }));
  }

  function schedule(delay) {
    if (!ended) { timer = setTimeout(poll, delay); }
  }

  function retry() {
    // A restarting lab server or a network glitch: try again until the session would have
    // timed out on the server anyway.
    if (Date.now() - lastAnswer > 2 * interval) { finish("unreachable"); }
    else { schedule(RETRY_DELAY); }
  }

  function poll() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    fetch(pollUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 502 || response.status === 503) { retry(); return null; }
        if (!response.ok) { finish("http-" + response.status); return null; }
        return response.json();
      })
      .then(function (reply) {
        if (reply === null || reply === undefined) { return; }
        lastAnswer = Date.now();
        if (reply.success) {
          showNotice(reply.notice);
          schedule(earlyPolls.length ? earlyPolls.shift() : interval);
        }
        else { finish(reply.reason || "inactive", reply.back); }
      })
      .catch(function () { if (!ended) { retry(); } });
  }

  function attachSocket(newSocket) {
    if (socket !== null || !newSocket) { return; }
    socket = newSocket;
    socket.on("weblab:session-ended", function (message) {
      message = message || {};
      finish(message.reason || "ended", message.back);
    });
    socket.on("weblab:notice", function () { if (!ended) { poll(); } });
  }

  if (logoutOnClose && logoutUrl) {
    // Leaving for another page of the lab (a form, a same-origin link) is not closing it.
    var internalNavigation = false;
    document.addEventListener("submit", function () { internalNavigation = true; }, true);
    document.addEventListener("click", function (event) {
      var link = event.target && event.target.closest ? event.target.closest("a[href]") : null;
      if (link && link.origin === window.location.origin && !link.target) {
        internalNavigation = true;
      }
    }, true);
    window.addEventListener("pagehide", function () {
      if (ended || internalNavigation) { return; }
      if (navigator.sendBeacon) { navigator.sendBeacon(closeUrl); }
      else { fetch(closeUrl, { method: "POST", keepalive: true, credentials: "same-origin" }); }
    });
    window.addEventListener("pageshow", function (event) {
      // Back from the browser's page cache (the student came back): tell the server now.
      internalNavigation = false;
      if (event.persisted && !ended) { poll(); }
    });
  }
  if (useSocket) {
    // Give the page until "load" to hand over its own socket; then open one.
    window.addEventListener("load", function () {
      if (socket === null && typeof window.io === "function") { attachSocket(window.io()); }
    });
  }
  var api = {
    stop: function () { finish("stopped"); },
    pollNow: poll,
    attachSocket: attachSocket,
    ended: false
  };
  window.weblabPoll = api;
  schedule(earlyPolls.length ? earlyPolls.shift() : interval);
}());
