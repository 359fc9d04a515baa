"""The pages weblab_ext shows students itself: "session ended", "link used" and the
unauthorized answer.

The first two are fixed text, no user data, no script: they render the same whatever the lab's
templates are. The unauthorized answer is the lab's own when it chose one.
"""

from __future__ import annotations

from flask import Response, redirect, render_template
from flask.typing import ResponseReturnValue

from ..context import lab_state

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 4em auto; line-height: 1.5">
<h1 id="{page_id}">{title}</h1>
{body}
</body>
</html>
"""


def _page(page_id: str, title: str, body: str) -> Response:
    html = _PAGE.format(page_id=page_id, title=title, body=body)
    return Response(html, status=403, mimetype="text/html")


def session_ended_page() -> Response:
    """What a student whose session is over sees when the RLMS gave no back URL (403)."""
    return _page(
        "weblab-session-ended",
        "Your lab session has ended",
        "<p>You can close this tab. To use the lab again, book it again where you booked it.</p>",
    )


def link_used_page() -> Response:
    """What a browser gets for a launch URL that another browser already followed (403)."""
    return _page(
        "weblab-link-used",
        "This lab link was already used",
        "<p>A lab link opens the lab in one browser only, and another browser already "
        "used this one. Go back to the site where you booked the lab and enter it from "
        "there again.</p>",
    )


def unauthorized_page() -> ResponseReturnValue:
    """What an anonymous student gets: the lab's handler, a link, a template or a 403."""
    state = lab_state()
    handler = state.callbacks.unauthorized
    if handler is not None:
        return handler()  # type: ignore[no-any-return]
    if state.settings.unauthorized_link:
        return redirect(state.settings.unauthorized_link)
    if state.settings.unauthorized_template:
        return render_template(state.settings.unauthorized_template)
    return "Access forbidden", 403, {"Content-Type": "text/plain; charset=utf-8"}
