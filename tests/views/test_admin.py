"""The admin page (``<base>/weblab/admin/``) and what guards it and the metrics: off unless
admin credentials are set, 401 without them, and actions that a forged cross-site request
cannot trigger. The browser side (a real Chromium, screenshots) is in ``tests/e2e``."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.support.admin import (
    ADMIN,
    ADMIN_AUTH,
    ADMIN_PASSWORD,
    ADMIN_USER,
    page_token,
    row_keys,
    sample,
    scrape,
    sessions_in_each_state,
)
from tests.support.lab import AUTH, PASSWORD, Lab, json_of
from weblab_ext import WebLab
from weblab_ext.config import weak_secrets
from weblab_ext.context import session_context
from weblab_ext.errors import InvalidConfigError
from weblab_ext.runtime.lifecycle_log import session_id_hash
from weblab_ext.views.admin import TOKEN_SECONDS

ORIGIN = {"Origin": "http://localhost:5000"}  # the lab's own (SERVER_NAME of the tests)
#: Strong values, made per run (a value written here would be a published one).
RLMS_STRONG, ADMIN_STRONG = secrets.token_urlsafe(18), secrets.token_urlsafe(18)


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(**ADMIN)


def admin_page(lab: Lab) -> str:
    reply = lab.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def end_session(lab: Lab, key: str, token: str, confirm: str = "yes", **headers: str) -> Any:
    """The "End session" form; ``confirm="yes"`` is the confirmation page's form."""
    return lab.app.test_client().post(
        "/weblab/admin/sessions/end",
        data={"session": key, "token": token, "confirm": confirm},
        headers={**ADMIN_AUTH, **headers},
    )


# -- off, and credentials ---------------------------------------------------------------------

OPERATOR_PATHS = [
    ("GET", "/weblab/metrics"),
    ("GET", "/weblab/admin/"),
    ("POST", "/weblab/admin/sessions/end"),
    ("POST", "/weblab/admin/tasks/stop"),
    ("GET", "/weblab/admin/static/weblab_admin.css"),
]


@pytest.mark.parametrize(("method", "path"), OPERATOR_PATHS)
def test_off_without_admin_credentials(
    make_lab: Callable[..., Lab], method: str, path: str
) -> None:
    lab = make_lab()
    client = lab.app.test_client()
    for headers in ({}, AUTH, ADMIN_AUTH):  # whatever is sent, RLMS credentials included
        reply = client.open(path, method=method, headers=headers)
        assert reply.status_code == 404
        assert reply.json == {
            "error": True,
            "code": "not-found",
            "message": "No RLMS endpoint at this path",
        }


@pytest.mark.parametrize("given", ["WEBLAB_ADMIN_USERNAME", "WEBLAB_ADMIN_PASSWORD"])
def test_one_admin_credential_without_the_other_is_refused(given: str) -> None:
    app = Flask("half_admin")
    app.config.update(WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p", **{given: ADMIN_STRONG})
    with pytest.raises(InvalidConfigError) as info:
        WebLab(app)
    assert "WEBLAB_ADMIN_USERNAME" in str(info.value)
    assert "WEBLAB_ADMIN_PASSWORD" in str(info.value)
    assert ADMIN_STRONG not in str(info.value)


def test_a_bad_admin_password_value_is_never_quoted() -> None:
    app = Flask("bad_admin")
    app.config.update(
        WEBLAB_USERNAME="u",
        WEBLAB_PASSWORD="p",
        WEBLAB_ADMIN_USERNAME="op",
        WEBLAB_ADMIN_PASSWORD=12345678901234,
    )
    with pytest.raises(InvalidConfigError) as info:
        WebLab(app)
    assert "WEBLAB_ADMIN_PASSWORD" in str(info.value)
    assert "12345678901234" not in str(info.value)


@pytest.mark.parametrize(("method", "path"), OPERATOR_PATHS)
def test_anonymous_and_wrong_credentials_get_401(
    lab: Lab, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = lab.app.test_client()
    wrong = [
        None,
        (ADMIN_USER, "op-s3cre"),
        ("operato", ADMIN_PASSWORD),
        (ADMIN_PASSWORD, ADMIN_USER),
        ("weblabdeusto", PASSWORD),
    ]
    for auth in wrong:
        reply = client.open(path, method=method, auth=auth)
        assert reply.status_code == 401, auth
        assert reply.headers["WWW-Authenticate"].startswith('Basic realm="weblab_ext admin"')
        assert json_of(reply)["code"] == "unauthorized"
    assert ADMIN_PASSWORD not in caplog.text and "op-s3cre" not in caplog.text
    assert PASSWORD not in caplog.text
    assert "Refused an admin request" in caplog.text


def test_admin_credentials_do_not_open_the_rlms_endpoints(lab: Lab) -> None:
    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(), headers=ADMIN_AUTH)
    assert reply.status_code == 401


def test_errors_under_the_admin_prefix_are_json(lab: Lab) -> None:
    client = lab.app.test_client()
    reply = client.get("/weblab/admin/no-such-page", headers=ADMIN_AUTH)
    assert (reply.status_code, json_of(reply)["code"]) == (404, "not-found")
    reply = client.get("/weblab/admin/sessions/end", headers=ADMIN_AUTH)
    assert (reply.status_code, json_of(reply)["code"]) == (405, "method-not-allowed")
    reply = client.post("/weblab/metrics", headers=ADMIN_AUTH)
    assert reply.status_code == 405 and reply.is_json


# -- weak admin passwords ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("", "is blank"),
        ("short-pw", "shorter than 12"),
        ("change-me-admin", "published"),
        (RLMS_STRONG, "the same as WEBLAB_PASSWORD"),
    ],
)
def test_weak_admin_passwords_are_reported(password: str, words: str) -> None:
    config = {"WEBLAB_PASSWORD": RLMS_STRONG, "WEBLAB_ADMIN_PASSWORD": password}
    problems = [line for line in weak_secrets(config) if line.startswith("WEBLAB_ADMIN_PASSWORD")]
    assert len(problems) == 1 and words in problems[0], problems
    assert not password or password not in problems[0]


def test_a_strong_admin_password_is_not_reported() -> None:
    config = {"WEBLAB_PASSWORD": RLMS_STRONG, "WEBLAB_ADMIN_PASSWORD": ADMIN_STRONG}
    assert weak_secrets(config) == []


# -- the page ---------------------------------------------------------------------------------


def test_the_page_lists_sessions_tasks_workers_and_health_without_ids(lab: Lab) -> None:
    @lab.weblab.task
    def measure() -> None: ...

    session_id = lab.start_raw()
    other = lab.start_raw(server={"request.username": "ana.garcia"})
    with lab.app.app_context(), session_context(session_id):
        task = measure.delay()
    lab.state.tasks.heartbeat_tick(threads=3)
    reply = lab.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH)
    html = reply.get_data(as_text=True)
    assert "john.smith" in html and "ana.garcia" in html
    assert "measure" in html and "submitted" in html
    assert session_id_hash(session_id)[:10] in html
    for secret in (session_id, other, task.task_id, ADMIN_PASSWORD):
        assert secret not in html
    assert sorted(row_keys(html, "session")) == sorted(
        session_id_hash(s) for s in (session_id, other)
    )
    assert row_keys(html, "task") == [session_id_hash(task.task_id)]
    assert 'id="health"' in html and "ok: store" in html
    assert '<meta http-equiv="refresh" content="5;' in html
    assert "<script" not in html and "style=" not in html  # works under script-src 'self'
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Cache-Control"] == "no-store"


def test_the_sessions_card_counts_sessions_by_state(lab: Lab) -> None:
    sessions_in_each_state(lab)
    html = admin_page(lab)
    card = html[html.index('id="sessions-count"') :]
    card = card[: card.index("</div>")]
    assert '<p class="big">2 active</p>' in card
    assert '<p class="small">1 exited, 1 disposing</p>' in card
    assert html.count('<td data-label="Session">') == 4  # every session not disposed yet
    # A session already being disposed offers no "End session": ending it again does nothing.
    assert len(row_keys(html, "session")) == 3


def test_the_page_shows_a_failing_health_check(lab: Lab) -> None:
    @lab.weblab.health_check
    def camera() -> bool:
        return False

    html = admin_page(lab)
    assert 'class="card bad" id="health"' in html
    assert "camera: returned false" in html


def test_the_health_card_shows_the_stored_result_and_its_age_without_checking(
    lab: Lab,
) -> None:
    runs: list[bool] = []
    fine = [True]

    @lab.weblab.health_check
    def camera() -> bool:
        runs.append(True)
        return fine[0]

    lab.state.clock = clock = _Clock()
    html = admin_page(lab)  # the lab's first round, waited for
    assert 'class="card ok" id="health"' in html and "ok: store, camera" in html
    assert '<span id="health-age">(checked 0 s ago)</span>' in html
    fine[0] = False
    clock.now += 7
    for _ in range(3):
        html = admin_page(lab)
    assert len(runs) == 1  # a render runs no check
    assert "ok: store, camera" in html and "(checked 7 s ago)" in html
    assert lab.state.threads.health is not None
    lab.state.threads.health.run_once(claim=False)
    html = admin_page(lab)
    assert 'class="card bad" id="health"' in html and "camera: returned false" in html


def test_with_devices_the_health_card_names_the_failing_devices(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"], **ADMIN)

    @lab.weblab.health_check
    def board_ok(device: str) -> bool:
        return device == "board-1"

    assert lab.state.threads.health is not None
    lab.state.threads.health.run_once(claim=False)
    html = admin_page(lab)
    assert 'class="card bad" id="health"' in html
    assert "board-2: board_ok (board-2): returned false" in html
    assert "board-1:" not in html


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_ending_a_session_from_the_page_disposes_it_once(lab: Lab) -> None:
    session_id = lab.start_raw()
    html = admin_page(lab)
    (key,) = row_keys(html, "session")
    reply = end_session(lab, key, page_token(html), **ORIGIN)
    assert reply.status_code == 303
    assert reply.location.endswith(f"/weblab/admin/?done=ended&what={key[:10]}")
    assert lab.disposed == [session_id]
    assert lab.record(session_id).state == "disposed"
    page = lab.app.test_client().get(reply.location, headers=ADMIN_AUTH)
    assert f"Session {key[:10]} ended." in page.get_data(as_text=True)
    again = end_session(lab, key, page_token(html), **ORIGIN)  # a second click, a stale page
    assert again.location.endswith("?done=gone")
    assert lab.disposed == [session_id]
    samples = scrape(lab.app.test_client())
    assert sample(samples, "weblab_session_disposals_total", reason="admin") == 1
    assert lab.status(session_id) == -1  # the RLMS sees it over


def test_ending_a_session_asks_first(lab: Lab) -> None:
    """The page's button leads to a page naming the student; nothing ends until the operator
    confirms there (plain forms: no script needed)."""
    session_id = lab.start_raw(server={"request.username": "<b>ana</b>"})
    html = admin_page(lab)
    (key,) = row_keys(html, "session")
    assert 'name="confirm"' not in html  # the row's button asks, it does not end
    reply = end_session(lab, key, page_token(html), confirm="", **ORIGIN)
    assert reply.status_code == 200
    assert lab.disposed == []
    assert lab.record(session_id).state == "active"
    page = reply.get_data(as_text=True)
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert reply.headers["Cache-Control"] == "no-store"
    assert f"End session <code>{key[:10]}</code> of" in page
    assert "&lt;b&gt;ana&lt;/b&gt;" in page and "<b>ana</b>" not in page
    assert session_id not in page
    assert 'http-equiv="refresh"' not in page  # it waits for the operator
    assert row_keys(page, "session") == [key]
    assert 'name="confirm" value="yes"' in page
    assert 'href="/weblab/admin/" id="cancel"' in page
    reply = end_session(lab, key, page_token(page), **ORIGIN)  # the confirmation's form
    assert reply.status_code == 303
    assert lab.disposed == [session_id]


def test_the_confirmation_needs_a_valid_token_and_origin(lab: Lab) -> None:
    lab.start_raw()
    html = admin_page(lab)
    (key,) = row_keys(html, "session")
    assert end_session(lab, key, "garbage", confirm="", **ORIGIN).status_code == 403
    refused = end_session(lab, key, page_token(html), confirm="", Origin="http://attacker.example")
    assert refused.status_code == 403
    assert lab.disposed == []


def test_asking_to_end_a_session_that_ended_goes_back_to_the_page(lab: Lab) -> None:
    session_id = lab.start_raw()
    html = admin_page(lab)
    (key,) = row_keys(html, "session")
    lab.dispose(session_id)
    reply = end_session(lab, key, page_token(html), confirm="", **ORIGIN)
    assert reply.status_code == 303 and reply.location.endswith("?done=gone")


def test_the_page_is_titled_with_the_lab_name(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**ADMIN, LAB_NAME="Heater <lab>")
    html = admin_page(lab)
    assert "<title>Heater &lt;lab&gt; · lab admin</title>" in html
    assert "<h1>Heater &lt;lab&gt; <span" in html


@pytest.mark.parametrize(
    ("import_name", "root", "title"),
    [
        ("app", "/srv/mylab", "mylab"),  # the Quickstart's app.py in its folder
        ("wsgi", "/srv/heater-lab", "heater-lab"),
        ("examples.advanced.wsgi", "/srv/examples/advanced", "advanced"),
        ("mylab", "/srv/mylab", "mylab"),  # a package: its own name
        ("heater.web", "/srv/heater", "web"),
    ],
)
def test_without_a_lab_name_the_title_is_readable(import_name: str, root: str, title: str) -> None:
    from flask import Flask

    from weblab_ext.views.admin import lab_title

    assert lab_title(Flask(import_name, root_path=root)) == title


def test_stopping_a_task_from_the_page(lab: Lab) -> None:
    @lab.weblab.task
    def measure() -> None: ...

    with lab.app.app_context(), session_context(lab.start_raw()):
        task = measure.delay()
    html = admin_page(lab)
    (key,) = row_keys(html, "task")
    reply = lab.app.test_client().post(
        "/weblab/admin/tasks/stop",
        data={"task": key, "token": page_token(html)},
        headers={**ADMIN_AUTH, **ORIGIN},
    )
    assert reply.status_code == 303 and reply.location.endswith("done=stopped&what=" + key[:10])
    assert lab.state.tasks.store.is_stopping(task.task_id)
    assert "(stopping)" in admin_page(lab)
    assert row_keys(admin_page(lab), "task") == []  # no second stop button


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_the_page_under_a_store_outage(make_lab: Callable[..., Lab]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lab = make_lab(WEBLAB_REDIS_URL=f"redis://127.0.0.1:{port}/0", **ADMIN)
    html = admin_page(lab)
    assert "does not answer (ConnectionError)" in html
    assert 'class="card bad" id="health"' in html


# -- CSRF -------------------------------------------------------------------------------------


@pytest.fixture
def ready(lab: Lab) -> tuple[Lab, str, str, str]:
    """A lab with one session, its key on the page and the page's token."""
    session_id = lab.start_raw()
    html = admin_page(lab)
    return lab, session_id, row_keys(html, "session")[0], page_token(html)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither Origin nor Referer
        {"Origin": "http://localhost:9999"},  # another site (another port is another origin)
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},  # a sandboxed frame, a data: URL
        {"Referer": "http://attacker.example/localhost:5000/weblab/admin/"},
        {"Origin": "http://attacker.example", "Referer": "http://localhost:5000/weblab/admin/"},
    ],
)
def test_an_action_from_another_origin_is_refused_even_with_a_valid_token(
    ready: tuple[Lab, str, str, str], headers: dict[str, str]
) -> None:
    lab, session_id, key, token = ready
    reply = end_session(lab, key, token, **headers)
    assert reply.status_code == 403 and json_of(reply)["code"] == "forbidden"
    assert lab.disposed == []
    assert lab.record(session_id).state == "active"


def test_the_referer_stands_for_a_missing_origin(ready: tuple[Lab, str, str, str]) -> None:
    lab, session_id, key, token = ready
    reply = end_session(lab, key, token, Referer="http://localhost:5000/weblab/admin/")
    assert reply.status_code == 303
    assert lab.disposed == [session_id]


@pytest.mark.parametrize("token", ["", "garbage", "admin"])
def test_an_action_without_a_valid_token_is_refused(
    ready: tuple[Lab, str, str, str], token: str
) -> None:
    lab, _, key, _ = ready
    assert end_session(lab, key, token, **ORIGIN).status_code == 403
    assert lab.disposed == []


def test_a_stale_token_is_refused(
    ready: tuple[Lab, str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, _, key, _ = ready
    from itsdangerous.timed import TimestampSigner

    long_ago = int(time.time()) - TOKEN_SECONDS - 5
    with monkeypatch.context() as patch:  # a page rendered (and left open) long ago
        patch.setattr(TimestampSigner, "get_timestamp", lambda signer: long_ago)
        stale = page_token(admin_page(lab))
    assert end_session(lab, key, stale, **ORIGIN).status_code == 403
    assert lab.disposed == []


def test_a_token_dies_with_the_credentials_it_was_made_for(
    ready: tuple[Lab, str, str, str],
) -> None:
    lab, _, key, token = ready
    lab.app.config["WEBLAB_ADMIN_PASSWORD"] = "op-n3w-pw"
    lab.weblab.reinstall(lab.app)
    new_auth = {"Authorization": "Basic b3BlcmF0b3I6b3AtbjN3LXB3"}  # operator:op-n3w-pw
    reply = lab.app.test_client().post(
        "/weblab/admin/sessions/end",
        data={"session": key, "token": token},
        headers={**new_auth, **ORIGIN},
    )
    assert reply.status_code == 403
    assert lab.disposed == []


def test_a_lab_with_csrfprotect_still_takes_the_page_actions(make_lab: Callable[..., Lab]) -> None:
    from flask_wtf.csrf import CSRFProtect

    lab = make_lab(**ADMIN, WTF_CSRF_ENABLED=True)
    CSRFProtect(lab.app)  # after init_app: weblab_ext exempts its routes at the first request
    session_id = lab.start_raw()
    html = admin_page(lab)
    reply = end_session(lab, row_keys(html, "session")[0], page_token(html), **ORIGIN)
    assert reply.status_code == 303
    assert lab.disposed == [session_id]


# -- flask weblab check -----------------------------------------------------------------------


def test_check_says_the_operator_pages_are_on_and_what_they_need(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = lab.app.test_cli_runner()
    result = runner.invoke(args=["weblab", "check"])
    assert (
        "ok: The metrics (/weblab/metrics) and the admin page (/weblab/admin/) are on"
        in result.output
    )
    assert "prometheus_client is not installed" not in result.output
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    result = runner.invoke(args=["weblab", "check"])
    assert "WARNING: prometheus_client is not installed" in result.output
    assert ADMIN_PASSWORD not in result.output
