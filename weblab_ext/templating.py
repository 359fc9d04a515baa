"""Template helpers: ``weblab_poll_script`` and the template context processor."""

from __future__ import annotations

from typing import Any

from flask import url_for
from markupsafe import Markup

from .context import current_session_id, lab_state, weblab_user


def weblab_poll_script(
    logout_on_close: bool = False, callback: str | None = None, socketio: bool = False
) -> Markup:
    """A ``<script>`` tag that keeps the student's session alive while the page is open.

    It loads ``weblab_poll.js`` (no inline code, no jQuery) which polls every
    ``WEBLAB_TIMEOUT / 2`` seconds and calls ``callback(reason)`` once the session is over.

    :param logout_on_close: end the session when the page is closed or the student goes to
        another site. The page cannot tell a close from a reload, so the session ends
        5 seconds later unless a request of it comes first (the reloaded page's poll, sent
        a second after it loads).
    :param callback: name of a global JavaScript function to call when the session is over.
    :param socketio: also listen for the server's ``weblab:session-ended`` Socket.IO event and
        then go to the RLMS's back URL at once. The page passes its socket with
        ``weblabPoll.attachSocket(socket)``; otherwise the script opens its own with
        ``io()`` (the Socket.IO client must be loaded before the page's ``load`` event;
        weblab_ext serves one at ``url_for("weblab_ext.static", filename="socket.io.min.js")``).

    .. code-block:: html+jinja

        {{ weblab_poll_script(logout_on_close=True, callback="sessionOver") }}
        {{ weblab_poll_script(socketio=True) }}
    """
    state = lab_state()
    if state.timeout <= 0:
        return Markup("<!-- weblab_ext: timeout is 0 or negative; no script -->")
    session_id = current_session_id()
    if session_id is None:
        return Markup("<!-- weblab_ext: session_id not found; no script -->")
    attributes = {
        "src": url_for("weblab_ext.static", filename="weblab_poll.js"),
        "data-poll-url": url_for("weblab_poll_url", session_id=session_id),
        "data-logout-url": url_for("weblab_logout_url", session_id=session_id),
        "data-interval": str(int(1000 * state.timeout / 2)),
        "data-logout-on-close": "true" if logout_on_close else "false",
    }
    if logout_on_close:
        attributes["data-close-url"] = url_for("weblab_close_url", session_id=session_id)
    if callback:
        attributes["data-callback"] = callback
    if socketio:
        attributes["data-socketio"] = "true"
    rendered = Markup(" ").join(
        Markup('{}="{}"').format(name, value) for name, value in attributes.items()
    )
    return Markup("<script {}></script>").format(rendered)


def template_context() -> dict[str, Any]:
    """What every template of the app sees (the extension adds ``weblab``, itself)."""
    return {"weblab_poll_script": weblab_poll_script, "weblab_user": weblab_user}
