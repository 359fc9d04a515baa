/* Page logic of the heated plate lab: one Socket.IO connection for everything. */
(function () {
  "use strict";
  var socket = io();
  // Let weblab_poll.js redirect to the RLMS as soon as the server says the session ended.
  window.weblabPoll.attachSocket(socket);

  var $ = function (id) { return document.getElementById(id); };
  var history = [];
  var left = parseInt($("time-left").dataset.seconds, 10);

  socket.on("connect", function () { $("connection").textContent = "live"; });
  socket.on("disconnect", function () { $("connection").textContent = "disconnected"; });

  socket.on("sensor", function (reading) {
    $("temperature").textContent = reading.temperature.toFixed(1);
    history.push(reading.temperature);
    if (history.length > 60) { history.shift(); }
    draw();
  });

  function showHeater(on) {
    var button = $("heater");
    button.dataset.on = on ? "true" : "false";
    button.textContent = "Turn heater " + (on ? "off" : "on");
  }
  socket.on("heater", function (state) { showHeater(state.on); });

  // Sent on every connect and reconnect: what was pushed while the socket was away (a
  // network gap, a restarted web process) is lost, so the page redraws from the full state.
  socket.on("state", function (state) {
    showHeater(state.heater);
    $("temperature").textContent = state.temperature.toFixed(1);
    left = state.time_left;
    $("time-left").textContent = left;
    var calibration = state.calibration;
    if (!calibration) { return; }
    $("calibrate").dataset.taskId = calibration.task_id;
    if (calibration.status === "done" || calibration.status === "failed") {
      showCalibrationDone(calibration);
    } else {
      $("calibrate").disabled = true;
      showProgress(calibration.progress);
    }
  });
  $("heater").addEventListener("click", function () {
    socket.emit("heater", { on: $("heater").dataset.on !== "true" });
  });

  $("calibrate").addEventListener("click", function () {
    $("calibrate").disabled = true;
    $("calibration-status").textContent = "starting";
    socket.emit("calibrate", function (reply) {
      $("calibrate").dataset.taskId = reply.task_id;
    });
  });
  function showProgress(progress) {
    $("calibration-progress").value = progress || 0;
    $("calibration-status").textContent = (progress || 0) + " %";
  }
  function showCalibrationDone(task) {
    $("calibrate").disabled = false;
    if (task.status === "done") {
      $("calibration-progress").value = 100;
      $("calibration-status").textContent = "done: offset " + task.result.offset + " \u00b0C";
    } else {
      $("calibration-status").textContent = "failed: " + (task.error && task.error.message);
    }
  }
  socket.on("weblab:task-progress", function (event) {
    if (event.name !== "calibrate" || !event.data) { return; }
    showProgress(event.data.progress);
  });
  socket.on("weblab:task-done", function (event) {
    if (event.name !== "calibrate") { return; }
    showCalibrationDone(event);
  });

  window.addEventListener("weblab:session-ended", function (event) {
    // Over at the server and no back URL from the RLMS: reloading lets the server say so.
    // Not when the lab was only unreachable (a restarting process, a network gap: a reload
    // would show the browser's error page) nor after weblabPoll.stop().
    var reason = event.detail.reason;
    if (!event.detail.back && reason !== "unreachable" && reason !== "stopped") {
      window.location.reload();
    }
  });

  $("logout").addEventListener("click", function () {
    // The server then pushes weblab:session-ended and weblab_poll.js goes back to the RLMS.
    fetch($("logout").dataset.url, { method: "POST", credentials: "same-origin" });
  });

  setInterval(function () {
    left = Math.max(0, left - 1);
    $("time-left").textContent = left;
  }, 1000);

  function draw() {
    var canvas = $("chart");
    var ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#d9534f";
    ctx.lineWidth = 2;
    ctx.beginPath();
    history.forEach(function (value, index) {
      var x = index * (canvas.width / 59);
      var y = canvas.height - ((value - 15) / 50) * canvas.height;
      if (index === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
    });
    ctx.stroke();
  }
}());
