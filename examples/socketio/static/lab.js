/* Page logic of the heated plate lab: one Socket.IO connection for everything. */
(function () {
  "use strict";
  var socket = io();
  // Let weblab_poll.js redirect to the RLMS as soon as the server says the session ended.
  window.weblabPoll.attachSocket(socket);

  var $ = function (id) { return document.getElementById(id); };
  var history = [];

  socket.on("connect", function () { $("connection").textContent = "live"; });
  socket.on("disconnect", function () { $("connection").textContent = "disconnected"; });

  socket.on("sensor", function (reading) {
    $("temperature").textContent = reading.temperature.toFixed(1);
    history.push(reading.temperature);
    if (history.length > 60) { history.shift(); }
    draw();
  });

  socket.on("heater", function (state) {
    var button = $("heater");
    button.dataset.on = state.on ? "true" : "false";
    button.textContent = "Turn heater " + (state.on ? "off" : "on");
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
  socket.on("weblab:task-progress", function (event) {
    if (event.name !== "calibrate" || !event.data) { return; }
    $("calibration-progress").value = event.data.progress || 0;
    $("calibration-status").textContent = (event.data.progress || 0) + " %";
  });
  socket.on("weblab:task-done", function (event) {
    if (event.name !== "calibrate") { return; }
    $("calibrate").disabled = false;
    if (event.status === "done") {
      $("calibration-progress").value = 100;
      $("calibration-status").textContent = "done: offset " + event.result.offset + " \u00b0C";
    } else {
      $("calibration-status").textContent = "failed: " + (event.error && event.error.message);
    }
  });

  window.addEventListener("weblab:session-ended", function (event) {
    // No back URL from the RLMS: reloading lets the server say the session has ended.
    if (!event.detail.back) { window.location.reload(); }
  });

  $("logout").addEventListener("click", function () {
    // The server then pushes weblab:session-ended and weblab_poll.js goes back to the RLMS.
    fetch($("logout").dataset.url, { method: "POST", credentials: "same-origin" });
  });

  var left = parseInt($("time-left").dataset.seconds, 10);
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
