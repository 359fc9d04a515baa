"""The small pages weblab_ext shows students itself: "session ended", "link used", the
confirmation asked before a launch URL replaces the session a browser is in, and the
unauthorized answer.

No script, and nothing a student or the RLMS sent reaches them unescaped: they render the
same whatever the lab's templates are. The unauthorized answer is the lab's own when it chose
one.
"""

from __future__ import annotations

from flask import Response, redirect, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from ..context import lab_state
from ..protocol import printable

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
#: The confirmation page: no script, no framing (its button is a consent), posts only here.
_CONFIRM_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_BUTTON = (
    "font-size: 1em; padding: 0.5em 1em; margin-right: 1em; border: 1px solid #555; "
    "border-radius: 4px; background: #fff; color: #222; cursor: pointer"
)


def _page(page_id: str, title: str, body: str, status: int = 403) -> Response:
    html = _PAGE.format(page_id=page_id, title=title, body=body)
    return Response(html, status=status, mimetype="text/html")


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


def launch_confirm_page(
    *, current: str, new: str, action: str, token: str, stay_url: str | None
) -> Response:
    """Asked when a browser in an active session follows another session's launch URL
    (200): open the new one (a POST back to the launch URL with ``token``), or stay.

    :param current: what the browser's session is ("<lab> as <user>"), as sent by the RLMS.
    :param new: the same for the session of the link.
    :param action: the launch URL the form posts to.
    :param stay_url: where "stay" goes (the lab's page for the current session), if known.
    """
    stay = (
        Markup('<a href="{}" style="{}">Stay in my session</a>').format(stay_url, _BUTTON)
        if stay_url
        else Markup("or close this tab to stay in your session.")
    )
    body = Markup(
        "<p>This browser is in a lab session: <strong>{current}</strong>.</p>"
        "<p>The link you followed opens another session: <strong>{new}</strong>. Opening it "
        "leaves the session you are in.</p>"
        "<p>If you did not mean to open another session (another site or a message sent "
        "you here), stay in yours.</p>"
        '<form method="post" action="{action}">'
        '<input type="hidden" name="csrf_token" value="{token}">'
        '<button type="submit" id="weblab-launch-open" style="{button}">'
        "Open the new session</button> {stay}</form>"
    ).format(
        current=printable(current),  # Markup.format escapes the HTML of every str
        new=printable(new),
        action=action,
        token=token,
        button=_BUTTON,
        stay=stay,
    )
    response = _page("weblab-launch-confirm", "You are already in a lab session", body, 200)
    response.headers.update(
        {
            "Content-Security-Policy": _CONFIRM_POLICY,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
    )
    return response


def launch_refused_page() -> Response:
    """What a confirmation that did not come from this browser's own page gets (403)."""
    return _page(
        "weblab-launch-refused",
        "This lab link was not opened",
        "<p>The request to switch lab sessions did not come from this lab's own page in "
        "this browser, so nothing changed. To open the other session, follow its lab link "
        "again and confirm there.</p>",
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
