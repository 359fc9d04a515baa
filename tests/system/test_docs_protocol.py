"""docs/protocol.md shows each reply of the lab exactly as the lab sends it: compact JSON, keys
in the order sent. Every reply sample of the page is checked against a real reply here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.lab import AUTH, Lab
from tests.support.paths import REPO

PAGE = REPO / "docs" / "protocol.md"

#: What a placeholder of a sample stands for in the real reply.
_PLACEHOLDERS = {
    "<launch URL>": r'[^"]+',
    "<sid>": r'[^"]+',
    "<key>": r'[^"]+',
    "[...]": r"\[.*?\]",
    "...": r".*?",
}
_NUMBER = r"-?\d+(?:\.\d+)?"


def sample_pattern(sample: str) -> re.Pattern[str]:
    """A sample as a pattern: ``<sid>``, ``...`` and the like match what varies, and a bare
    ``n`` or ``s`` where a value goes matches a number."""
    names = "|".join(re.escape(name) for name in _PLACEHOLDERS)
    parts = re.split(f"({names}|(?<=:)[ns](?=[,}}]))", sample)
    pattern = "".join(
        _PLACEHOLDERS.get(part, _NUMBER if part in ("n", "s") else re.escape(part))
        for part in parts
    )
    return re.compile(pattern, re.S)


def inline_samples(text: str) -> list[str]:
    """Every inline code span holding a JSON object, and every ```json block."""
    spans = [m[1] for m in re.finditer(r"`(\{[^`]*\})`", text)]
    blocks = [m[1].strip() for m in re.finditer(r"```json\n(.*?)```", text, re.S)]
    return spans + blocks


def _health_lab(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab()

    @lab.weblab.health_check
    def camera() -> bool:
        return True

    return lab


def _start(lab: Lab, **overrides: Any) -> Any:
    return lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(**overrides), headers=AUTH)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _without_username(lab: Lab) -> dict[str, Any]:
    body = lab.start_body()
    del body["server_initial_data"]["request.username"]
    return body


def _replies(lab: Lab) -> dict[str, Callable[[], Any]]:
    """The doc's reply samples, each with the request that gets it from the lab."""
    get, post = lab.raw_rlms.get, lab.raw_rlms.post
    bad_auth = {"Authorization": "Basic eDp5"}

    def started() -> str:
        return lab.start_raw()

    def failing_start() -> Any:
        def boom(client_data: Any, server_data: Any) -> None:
            raise RuntimeError("no camera")

        lab.weblab.callbacks.on_start = boom
        modes = lab.app.testing, lab.app.debug
        lab.app.testing = lab.app.debug = False  # as in production: no "detail"
        try:
            return _start(lab)
        finally:
            lab.weblab.callbacks.on_start = None
            lab.app.testing, lab.app.debug = modes

    return {
        '{"api_version":"1"}': lambda: get("/weblab/sessions/api"),
        '{"valid":true}': lambda: get("/weblab/sessions/test", headers=AUTH),
        '{"valid":false,"error_messages":[...]}': lambda: get(
            "/weblab/sessions/test", headers=bad_auth
        ),
        '{"url":"<launch URL>","session_id":"<sid>"}': lambda: _start(lab),
        '{"should_finish":n}': lambda: get(f"/weblab/sessions/{started()}/status", headers=AUTH),
        '{"status":{"<sid>":n}}': lambda: post(
            "/weblab/sessions/status/multiple", json={"session_ids": [started()]}, headers=AUTH
        ),
        '{"message":"Deleted","finished":true,"should_finish":-1}': lambda: post(
            f"/weblab/sessions/{started()}", json={"action": "delete"}, headers=AUTH
        ),
        '{"message":"Not found","finished":true,"should_finish":-1}': lambda: post(
            "/weblab/sessions/" + "x" * 43, json={"action": "delete"}, headers=AUTH
        ),
        '{"message":"Unknown op"}': lambda: post(
            f"/weblab/sessions/{started()}", json={"action": "keep"}, headers=AUTH
        ),
        '{"found":true,"success":true,"message":"ok: store, camera","state":"idle",'
        '"since":null,"checked_at":n}': lambda: get("/weblab/health"),
        '{"error":true,"code":"invalid-json","message":...}': lambda: post(
            "/weblab/sessions/", data="{", content_type="application/json", headers=AUTH
        ),
        '{"error":true,"code":"invalid-body",...}': lambda: post(
            "/weblab/sessions/", json=[1], headers=AUTH
        ),
        '{"error":true,"code":"missing-field","message":...,"field":"request.username"}': lambda: (
            post("/weblab/sessions/", json=_without_username(lab), headers=AUTH)
        ),
        '{"error":true,"code":"invalid-field","message":...,"field":...}': lambda: _start(
            lab, server={"priority.queue.slot.length": "long"}
        ),
        '{"error":true,"code":"invalid-field","message":...,"field":"back"}': lambda: _start(
            lab, back="javascript:alert(1)"
        ),
        '{"error":true,"code":"invalid-field","message":...,'
        '"field":"client_initial_data.<key>"}': lambda: _start(
            lab, client_initial_data={"deep": _nested(101)}
        ),
        '{"error":true,"code":"unauthorized",'
        '"message":"You don\'t seem to be a WebLab-Instance"}': (
            lambda: post("/weblab/sessions/", json=lab.start_body(), headers=bad_auth)
        ),
        '{"error":true,"message":"Error initializing laboratory","code":"on-start-failed"}': (
            failing_start
        ),
        '{"error":true,"code":"method-not-allowed",...}': lambda: lab.raw_rlms.open(
            "/weblab/sessions/api", method="TRACE", headers=AUTH
        ),
        '{"error":true,"code":"not-found",...}': lambda: get(
            "/weblab/sessions/a/b/status", headers=AUTH
        ),
        '{"success":false,"error_code":"missing-parameters","error_human":...}': lambda: post(
            "/weblab/sessions/status/multiple", json={}, headers=AUTH
        ),
    }


#: Samples of what the RLMS sends (requests), shown for reading, not replies of the lab.
REQUESTS = {
    '{"action": "delete"}',
    '{"session_ids": [...], "timeout": s}',
    '{"back": url, "client_initial_data": {...}, "server_initial_data": {...}}',
}
#: Reply samples of the page no test here provokes: a production server without Redis, a
#: hardware check that hangs for 5 s. They are shown, not compared with a real reply.
NOT_COMPARED = {
    '{"error":true,"code":"lab-misconfigured","message":...}',
    '{"found":true,"success":false,"message":"camera: returned false; arm: did not answer '
    'within 5 s","state":"idle","since":null,"checked_at":1767225600.5}',
}


def _limited_replies(make_lab: Callable[..., Lab]) -> dict[str, Callable[[], Any]]:
    """The samples of replies that need a lab configured for them."""
    from tests.support.disposal import blocking_on_dispose

    small = make_lab(WEBLAB_MAX_START_BODY=4096, WEBLAB_MAX_STATUS_IDS=2)
    big = {"session_ids": ["x" * 43], "padding": "x" * 5000}
    slow = make_lab(WEBLAB_DISPOSE_WAIT=0, WEBLAB_DISPOSE_ASK_AGAIN=1)
    _entered, release, _calls = blocking_on_dispose(slow)
    down = make_lab(WEBLAB_REDIS_URL="redis://127.0.0.1:1/0")

    def disposing() -> Any:
        session_id = slow.start_raw()
        try:
            return slow.raw_rlms.post(
                f"/weblab/sessions/{session_id}", json={"action": "delete"}, headers=AUTH
            )
        finally:
            release.set()
            slow.state.service.disposer.wait_idle(5)

    return {
        '{"error":true,"code":"body-too-large","message":...}': lambda: _start(
            small, padding="x" * 5000
        ),
        '{"error":true,"code":"body-too-large",...}': lambda: small.raw_rlms.post(
            "/weblab/sessions/status/multiple", json=big, headers=AUTH
        ),
        '{"error":true,"code":"too-many-session-ids","message":...,"field":"session_ids",'
        '"success":false,"error_code":"too-many-session-ids","error_human":...}': lambda: (
            small.raw_rlms.post(
                "/weblab/sessions/status/multiple",
                json={"session_ids": ["a", "b", "c"]},
                headers=AUTH,
            )
        ),
        '{"message":"Disposing","finished":false,"ask_again":s,"should_finish":s}': disposing,
        '{"error":true,"code":"store-unavailable",...}': lambda: _start(down),
    }


def _page_samples() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    samples = [" ".join(sample.split()) for sample in inline_samples(text)]
    return [sample for sample in samples if sample not in REQUESTS and "laboratory" not in sample]


def test_the_pattern_tells_a_changed_reply() -> None:
    assert sample_pattern('{"should_finish":n}').fullmatch('{"should_finish":-1}')
    assert not sample_pattern('{"should_finish":n}').fullmatch('{"should_finish": -1}')
    assert not sample_pattern('{"a":1,"b":2}').fullmatch('{"b":2,"a":1}')
    assert sample_pattern('{"error":true,"code":"x",...}').fullmatch(
        '{"error":true,"code":"x","message":"m"}'
    )


def test_every_reply_sample_of_the_page_is_checked(make_lab: Callable[..., Lab]) -> None:
    checked = set(_replies(make_lab())) | set(_limited_replies(make_lab)) | NOT_COMPARED
    unchecked = [sample for sample in _page_samples() if sample not in checked]
    assert unchecked == [], "reply samples of protocol.md no test compares with the lab"
    assert len(_page_samples()) >= 20


def test_no_reply_sample_has_spaces_the_lab_does_not_send() -> None:
    """The lab writes compact JSON: no space after ``:`` or ``,`` outside strings."""
    for sample in _page_samples():
        outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', sample)
        assert not re.search(r"[:,] ", outside_strings), sample


def test_reply_samples_are_what_the_lab_sends(make_lab: Callable[..., Lab]) -> None:
    lab = _health_lab(make_lab)
    page = " ".join(PAGE.read_text(encoding="utf-8").split())
    for sample, call in _replies(lab).items():
        assert sample in page, f"protocol.md no longer shows {sample}"
        body = call().get_data(as_text=True)
        assert sample_pattern(sample).fullmatch(body), f"protocol.md shows {sample}, sent {body}"


def test_replies_of_configured_labs_are_what_the_page_shows(
    make_lab: Callable[..., Lab],
) -> None:
    page = " ".join(PAGE.read_text(encoding="utf-8").split())
    for sample, call in _limited_replies(make_lab).items():
        assert sample in page, f"protocol.md no longer shows {sample}"
        body = call().get_data(as_text=True)
        assert sample_pattern(sample).fullmatch(body), f"protocol.md shows {sample}, sent {body}"


def test_replies_stay_compact_in_debug_mode(make_lab: Callable[..., Lab]) -> None:
    """Flask indents ``jsonify`` in debug mode; the RLMS replies do not change with it."""
    lab = _health_lab(make_lab)
    lab.app.debug = True
    for sample, call in _replies(lab).items():
        body = call().get_data(as_text=True)
        assert sample_pattern(sample).fullmatch(body), f"protocol.md shows {sample}, sent {body}"


# -- the migration guide's "Dispose and tasks" -----------------------------------------------

MIGRATION = PAGE.parent / "migration.md"


def _dispose_section() -> str:
    text = MIGRATION.read_text(encoding="utf-8")
    start = text.index("### Dispose and tasks")
    end = text.index("\n### ", start + 1)
    return " ".join(text[start:end].split())


def test_migration_dispose_section_states_the_code_s_names_and_defaults() -> None:
    """What a lab author reads about the bounded dispose and tasks is what the code does:
    the keys exist with the defaults stated, the replies are the real ones."""
    import json

    import weblab_ext
    from weblab_ext.config import OPTIONS
    from weblab_ext.protocol import dispose_done_reply, dispose_pending_reply
    from weblab_ext.runtime.disposal import STALE_DISPOSING_SECONDS

    section = _dispose_section()
    defaults = {option.key: option.default for option in OPTIONS}
    named = set(re.findall(r"`(WEBLAB_\w+)`", section))
    assert {"WEBLAB_DISPOSE_WAIT", "WEBLAB_DISPOSE_ASK_AGAIN", "WEBLAB_TASK_EXPIRES"} <= named
    assert named <= set(defaults), named - set(defaults)
    stated = re.findall(r"`(WEBLAB_\w+)`[^`]{0,20}?default (\d+(?:\.\d+)?)", section)
    assert len(stated) >= 3, stated
    for key, value in stated:
        assert float(value) == defaults[key], (key, value)

    def compact(payload: dict[str, Any]) -> str:
        return json.dumps(payload, separators=(",", ":"))

    assert compact(dispose_done_reply()) in section
    assert compact(dispose_pending_reply(defaults["WEBLAB_DISPOSE_ASK_AGAIN"])) in section
    assert f"for {STALE_DISPOSING_SECONDS / 60:g} minutes" in section
    assert "current_task_stopping" in section and "current_task_stopping" in weblab_ext.__all__
    assert "without a time limit" in section  # what changed: weblablib waited for ever
