"""``weblab_poll_script`` and the template context."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import render_template_string, session

from tests.support.lab import Lab


def render(lab: Lab, session_id: str | None, source: str) -> str:
    """Render ``source`` in a request of the student whose cookie holds ``session_id``."""
    with lab.app.test_request_context("/"):
        if session_id is not None:
            session["weblab_session_id"] = session_id
        return render_template_string(source)


def attributes(html: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', html))


def test_poll_script_is_an_external_script_with_data_attributes(lab: Lab) -> None:
    sid = lab.start_raw()
    html = render(lab, sid, "{{ weblab_poll_script() }}")
    assert html.startswith("<script ") and html.endswith("></script>")
    attrs = attributes(html)
    assert attrs["src"].endswith("/weblab_ext/static/weblab_poll.js")
    assert attrs["data-poll-url"] == f"/callback/{sid}/poll"
    assert attrs["data-logout-url"] == f"/callback/{sid}/logout"
    assert attrs["data-interval"] == "7500"  # WEBLAB_TIMEOUT 15 s / 2
    assert attrs["data-logout-on-close"] == "false"
    assert "data-callback" not in attrs and "data-socketio" not in attrs
    with lab.browser(sid).get(attrs["src"]) as script:
        body = script.get_data(as_text=True)
    assert "window.jQuery" not in body and "$(" not in body and "weblab:session-ended" in body


def test_poll_script_options(lab: Lab) -> None:
    sid = lab.start_raw()
    html = render(
        lab, sid, "{{ weblab_poll_script(logout_on_close=True, callback='over', socketio=True) }}"
    )
    attrs = attributes(html)
    assert attrs["data-logout-on-close"] == "true"
    assert attrs["data-callback"] == "over"
    assert attrs["data-socketio"] == "true"


def test_poll_script_callback_is_escaped(lab: Lab) -> None:
    sid = lab.start_raw()
    html = render(lab, sid, "{{ weblab_poll_script(callback='a\"><b') }}")
    assert "<b" not in html and "&#34;" in html


def test_poll_script_without_session_or_timeout(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    assert "session_id not found; no script" in render(lab, None, "{{ weblab_poll_script() }}")
    lab = make_lab(WEBLAB_TIMEOUT=0)
    assert "timeout is 0 or negative; no script" in render(lab, None, "{{ weblab_poll_script() }}")


def test_template_context_has_user_and_extension(lab: Lab) -> None:
    sid = lab.start_raw()
    html = render(lab, sid, "{{ weblab_user.username }}|{{ weblab is not none }}")
    assert html == "john.smith|True"
