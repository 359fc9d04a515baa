/* Called by weblab_poll.js when the session is over, before it takes the student back to the
 * RLMS (return false here to stay on the page instead). */
window.weblabSessionOver = function () {
  document.getElementById("welcome").textContent = "The session is over: back to the RLMS...";
};
