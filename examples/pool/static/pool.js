/* Page logic of the pool lab: the board's state arrives by Socket.IO pushes. */
(function () {
  "use strict";
  var socket = io();
  window.weblabPoll.attachSocket(socket);
  var $ = function (id) { return document.getElementById(id); };
  // Every push received, in order (the browser test reads it).
  window.poolEvents = [];

  socket.on("connect", function () { $("connection").textContent = "live"; });
  socket.on("board", function (state) {
    window.poolEvents.push({ name: "board", board: state.board, step: state.step || null });
    state.leds.forEach(function (on, index) {
      $("led-" + index).textContent = on ? "on" : "off";
    });
    $("presses").textContent = state.presses;
  });
  socket.on("weblab:task-progress", function (event) {
    window.poolEvents.push({ name: "progress", task: event.task_id, done: event.data.done });
    $("self-test-status").textContent = (event.data.done || 0) + " / 4";
  });
  socket.on("weblab:task-done", function (event) {
    window.poolEvents.push({ name: "done", task: event.task_id, status: event.status });
    $("self-test-status").textContent = event.status;
    $("self-test").disabled = false;
  });
  $("self-test").addEventListener("click", function () {
    $("self-test").disabled = true;
    fetch($("self-test").dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": $("self-test").dataset.token },
    });
  });
})();
