/* Called by weblab_poll.js when the session is over: reloading lets the server redirect the
 * student to the RLMS's back URL (requires_active does that for ended sessions). */
window.weblabSessionOver = function () { window.location.reload(); };
