/* Page logic of the slider lab: start a move task, then poll its progress over HTTP. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var form = $("move-form");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    $("move").disabled = true;
    $("move-status").textContent = "starting";
    fetch(form.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        // CSRFProtect reads the token from this header on fetch() POSTs.
        "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content
      },
      body: JSON.stringify({ position: parseInt($("target").value, 10) })
    }).then(function (response) { return response.json(); })
      .then(function (reply) { follow(reply.task_id); });
  });

  function follow(taskId) {
    fetch(form.dataset.statusUrl.replace("TASK_ID", taskId), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (task) {
        var data = task.data || {};
        if (data.position !== undefined) { $("position").textContent = data.position; }
        $("move-progress").value = data.progress || 0;
        if (task.status === "done") {
          $("move-progress").value = 100;
          $("position").textContent = task.result.position;
          $("move-status").textContent = "done";
          $("move").disabled = false;
        } else if (task.status === "failed") {
          $("move-status").textContent = "failed: " + task.error.message;
          $("move").disabled = false;
        } else {
          $("move-status").textContent = (data.progress || 0) + " %";
          setTimeout(function () { follow(taskId); }, 150);
        }
      });
  }
}());
