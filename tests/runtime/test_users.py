"""The user classes (SPEC §4): attributes, data persistence, states and transitions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

import pytest
from flask import Flask, url_for

from tests.support.lab import Lab, base_config, json_of
from weblab_ext import (
    AnonymousUser,
    CurrentUser,
    ExpiredUser,
    NoContextError,
    WebLab,
    get_weblab_user,
    logout,
    poll,
    requires_login,
    weblab_user,
)
from weblab_ext.extension import weblab_of


def capture(lab: Lab, route: str, func: Callable[[], Any]) -> Callable[[Any], Any]:
    """Add a view that runs ``func`` in a request; returns ``call(client) -> result``."""
    results: list[Any] = []

    def view() -> str:
        results.append(func())
        return "ok"

    lab.app.add_url_rule(route, route.strip("/"), view)

    def call(client: Any) -> Any:
        reply = client.get(route)
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return results[-1]

    return call


def snapshot(user: Any) -> dict[str, Any]:
    names = [
        "session_id",
        "back",
        "last_poll",
        "max_date",
        "start_date",
        "username",
        "username_unique",
        "full_name",
        "locale",
        "experiment_name",
        "category_name",
        "experiment_id",
        "exited",
        "active",
        "is_anonymous",
        "time_left",
    ]
    values = {name: getattr(user, name) for name in names}
    values["request_client_data"] = dict(user.request_client_data)
    values["request_server_data"] = dict(user.request_server_data)
    values["data"] = dict(user.data)
    values["type"] = type(get_weblab_user())
    values["str"] = str(user)
    return values


def test_current_user_attributes(lab: Lab) -> None:
    get = capture(lab, "/me", lambda: (snapshot(weblab_user), weblab_user.time_without_polling))
    start = time.time()
    session_id = lab.start_raw(server={"priority.queue.slot.start.timestamp": repr(start)})
    values, silent = get(lab.browser(session_id))
    assert values["type"] is CurrentUser
    assert values["session_id"] == session_id
    assert values["back"] == "http://rlms.example/back"
    assert values["username"] == "john.smith"
    assert values["username_unique"] == "john.smith@institution"
    assert values["full_name"] == "John Smith"
    assert values["locale"] == "es_ES"
    assert values["experiment_name"] == "mylab"
    assert values["category_name"] == "Lab experiments"
    assert values["experiment_id"] == "mylab@Lab experiments"
    assert values["start_date"] == pytest.approx(start)
    assert values["max_date"] == pytest.approx(start + 200)
    assert values["last_poll"] == pytest.approx(time.time(), abs=5)
    assert values["exited"] is False
    assert values["active"] is True
    assert values["is_anonymous"] is False
    assert 190 < values["time_left"] <= 200
    assert 0 <= silent < 5
    assert values["request_client_data"] == {"in_test": True}
    assert values["request_server_data"]["request.username"] == "john.smith"
    assert values["data"] == {}
    assert session_id in values["str"]
    assert "john.smith@institution" in values["str"]
    assert "http://rlms.example/back" in values["str"]


def test_request_data_is_read_only(lab: Lab) -> None:
    def mutate() -> str:
        try:
            weblab_user.request_client_data["x"] = 1  # type: ignore[index]
        except TypeError:
            return "refused"
        return "allowed"

    call = capture(lab, "/mutate", mutate)
    assert call(lab.browser(lab.start_raw())) == "refused"


def test_logged_out_user(lab: Lab) -> None:
    call = capture(lab, "/me", lambda: snapshot(weblab_user))
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    client.get(f"/callback/{session_id}/logout")
    values = call(client)
    assert values["type"] is CurrentUser
    assert values["exited"] is True
    assert values["active"] is False


def test_expired_user_attributes(lab: Lab) -> None:
    @lab.app.route("/write")
    def write() -> str:
        weblab_user.data["score"] = 10
        return "ok"

    def probe() -> dict[str, Any]:
        values = snapshot(weblab_user)
        values["disposing"] = cast(Any, weblab_user).disposing_resources
        for name, attempt in (
            ("assign", lambda: setattr(weblab_user, "data", {"a": 1})),
            ("update_data", lambda: weblab_user.update_data({"a": 1})),
            ("setitem", lambda: weblab_user.data.__setitem__("a", 1)),
            ("pop", lambda: weblab_user.data.pop("score")),
            ("clear", lambda: weblab_user.data.clear()),
        ):
            try:
                attempt()
                values[name] = None
            except (NotImplementedError, TypeError) as exc:
                values[name] = type(exc)
        return values

    call = capture(lab, "/me", probe)
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    client.get("/write")
    lab.dispose(session_id)
    values = call(client)
    assert values["type"] is ExpiredUser
    assert values["session_id"] == session_id
    assert values["active"] is False
    assert values["is_anonymous"] is False
    assert values["time_left"] == 0
    assert values["disposing"] is False
    assert values["username"] == "john.smith"
    assert values["experiment_id"] == "mylab@Lab experiments"
    assert values["data"] == {"score": 10}
    assert session_id in values["str"]
    assert values["assign"] is NotImplementedError
    assert values["update_data"] is NotImplementedError
    assert values["setitem"] is TypeError
    assert values["pop"] is TypeError
    assert values["clear"] is TypeError


def test_anonymous_user(lab: Lab) -> None:
    def probe() -> dict[str, Any]:
        user = weblab_user
        data = user.data
        values: dict[str, Any] = {
            "type": type(cast(Any, user)._get_current_object()),
            "active": user.active,
            "is_anonymous": user.is_anonymous,
            "locale": user.locale,
            "str": str(user),
            "data_is_none": data is None,
            "contains": "x" in data,
            "username": user.username,
            "session_id": user.session_id,
        }
        errors: list[str | None] = []
        for attempt in (
            lambda: len(data),
            lambda: data["x"],
            lambda: data.__setitem__("x", 1),
            lambda: bool(data),
            lambda: list(data),
            lambda: data.get("x"),
            lambda: data.update({}),
            lambda: data.keys(),
        ):
            try:
                attempt()
                errors.append(None)
            except TypeError as exc:
                errors.append(str(exc))
        values["errors"] = errors
        return values

    values = capture(lab, "/anon", probe)(lab.app.test_client())
    assert values["type"] is AnonymousUser
    assert values["active"] is False
    assert values["is_anonymous"] is True
    assert values["locale"] is None
    assert values["str"] == "Anonymous user"
    assert values["data_is_none"] is False
    assert values["contains"] is False
    assert values["username"] is None
    assert values["session_id"] is None
    assert values["errors"] == ["Anonymous user contains no valid data"] * 8


def test_data_persists_across_requests(lab: Lab) -> None:
    @lab.app.route("/set/<value>")
    def set_value(value: str) -> str:
        weblab_user.data["foo"] = value
        return "ok"

    @lab.app.route("/replace")
    def replace() -> str:
        weblab_user.data = {"replaced": True}
        return "ok"

    read = capture(lab, "/read", lambda: dict(weblab_user.data))
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    client.get("/set/bar")
    assert read(client) == {"foo": "bar"}
    client.get("/replace")
    assert read(client) == {"replaced": True}
    with lab.app.app_context():
        assert json.loads(lab.record(session_id).data_json) == {"replaced": True}


def test_data_shared_by_two_apps_on_one_store(store_url: str) -> None:
    config = base_config(store_url)
    config["WEBLAB_REDIS_BASE"] = f"shared-{uuid.uuid4().hex[:8]}"
    config["WEBLAB_LAUNCH_ONCE"] = False  # one session, a browser on each app
    apps = []
    for name in ("one", "two"):
        app = Flask(f"app_{name}")
        app.config.update(config)
        weblab = WebLab(app)
        weblab.initial_url(lambda: url_for("data_view"))

        @app.route("/data")
        @requires_login
        def data_view() -> str:
            return json.dumps(dict(weblab_user.data))

        @app.route("/store/<value>")
        @requires_login
        def store(value: str) -> str:
            weblab_user.data["value"] = value
            return "ok"

        apps.append(app)
    start = Lab(apps[0], weblab_of(apps[0])).start_body()
    from tests.support.lab import AUTH

    reply = apps[0].test_client().post("/weblab/sessions/", json=start, headers=AUTH)
    session_id = json_of(reply)["session_id"]
    first, second = apps[0].test_client(), apps[1].test_client()
    assert first.get(f"/callback/{session_id}").status_code == 302
    assert second.get(f"/callback/{session_id}").status_code == 302
    first.get("/store/from-one")
    assert json.loads(second.get("/data").get_data(as_text=True)) == {"value": "from-one"}
    second.get("/store/from-two")
    assert json.loads(first.get("/data").get_data(as_text=True)) == {"value": "from-two"}


def test_store_retrieve_and_modification_tracking(lab: Lab) -> None:
    ids: list[str] = []

    def probe() -> dict[str, Any]:
        data = weblab_user.data
        result: dict[str, Any] = {"initial": data.is_modified}
        data["a"] = 1
        result["after_set"] = data.is_modified
        data.store()
        result["after_store"] = data.is_modified
        result["store_if_unmodified"] = data.store_if_modified()
        data["b"] = 2
        result["store_if_modified"] = data.store_if_modified()
        # Someone else (a task) writes; retrieve reloads in place.
        lab.state.sessions.store_data(ids[0], json.dumps({"from": "task"}))
        data["local"] = "lost"
        data.retrieve()
        result["retrieved"] = dict(data)
        result["after_retrieve"] = data.is_modified
        weblab_user.data = dict(weblab_user.data)  # an equal dict, assigned
        result["after_equal_assign"] = weblab_user.data.is_modified
        weblab_user.data = {"new": 1}
        result["after_assign"] = weblab_user.data.is_modified
        return result

    call = capture(lab, "/probe", probe)
    session_id = lab.start_raw()
    ids.append(session_id)
    result = call(lab.browser(session_id))
    assert result == {
        "initial": False,
        "after_set": True,
        "after_store": False,
        "store_if_unmodified": False,
        "store_if_modified": True,
        "retrieved": {"from": "task"},
        "after_retrieve": False,
        "after_equal_assign": False,
        "after_assign": True,
    }
    assert json.loads(lab.record(session_id).data_json) == {"new": 1}


def test_non_json_data_is_not_stored(lab: Lab) -> None:
    @lab.app.route("/bad")
    def bad() -> str:
        weblab_user.data["when"] = object()
        return "ok"

    session_id = lab.start_raw()
    client = lab.browser(session_id)
    assert client.get("/bad").status_code == 200
    assert json.loads(lab.record(session_id).data_json) == {}


def test_data_is_not_written_after_disposal(lab: Lab) -> None:
    session_id = lab.start_raw()
    lab.dispose(session_id)
    lab.state.client.delete(lab.state.keys.session(session_id))
    with lab.app.app_context():
        assert lab.state.service.store_user_data(session_id, "{}") is False
    assert lab.state.sessions.load(session_id) is None


def test_update_data_is_deprecated_but_stores(lab: Lab) -> None:
    @lab.app.route("/old")
    def old() -> str:
        with pytest.warns(DeprecationWarning):
            weblab_user.update_data({"old": "style"})
        return "ok"

    session_id = lab.start_raw()
    lab.browser(session_id).get("/old")
    assert json.loads(lab.record(session_id).data_json) == {"old": "style"}


def test_user_loader(lab: Lab) -> None:
    calls: list[str] = []
    read_user = capture(lab, "/user", lambda: weblab_user.user)
    session_id = lab.start_raw()
    assert read_user(lab.browser(session_id)) is None  # no loader registered

    @lab.weblab.user_loader
    def load(username_unique: str) -> Any:
        calls.append(username_unique)
        return {"login": username_unique, "sid": weblab_user.session_id}

    assert read_user(lab.browser(session_id)) == {
        "login": "john.smith@institution",
        "sid": session_id,
    }
    other = lab.start_raw(server={"request.username.unique": "ana@x"})
    assert read_user(lab.browser(other))["login"] == "ana@x"
    assert calls == ["john.smith@institution", "ana@x"]


def test_user_loader_exceptions_propagate(lab: Lab) -> None:
    @lab.weblab.user_loader
    def load(username_unique: str) -> Any:
        raise LookupError("no such user")

    @lab.app.route("/user")
    def user_view() -> str:
        with pytest.raises(LookupError):
            weblab_user.user  # noqa: B018
        return "ok"

    assert lab.browser(lab.start_raw()).get("/user").get_data(as_text=True) == "ok"


def test_get_weblab_user_cached_and_fresh(lab: Lab) -> None:
    def probe() -> tuple[Any, ...]:
        before = get_weblab_user()
        logout()
        cached = get_weblab_user()
        fresh = get_weblab_user(cached=False)
        return (
            before.active,
            cached is before,
            cached.active,
            fresh.active,
            cast(ExpiredUser, fresh).exited,
        )

    call = capture(lab, "/p", probe)
    assert call(lab.browser(lab.start_raw())) == (True, True, True, False, True)


def test_no_context_errors(lab: Lab) -> None:
    with pytest.raises(NoContextError):
        get_weblab_user()
    with pytest.raises(NoContextError):
        weblab_user.active  # noqa: B018
    with pytest.raises(NoContextError):
        poll()
    with pytest.raises(NoContextError):
        logout()
    with lab.app.app_context(), pytest.raises(NoContextError):
        get_weblab_user()


def test_transitions(lab: Lab) -> None:
    kind = capture(
        lab, "/kind", lambda: (type(get_weblab_user(cached=False)).__name__, weblab_user.active)
    )
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    assert kind(client) == ("CurrentUser", True)
    client.get(f"/callback/{session_id}/logout")
    assert kind(client) == ("CurrentUser", False)
    lab.dispose(session_id)
    assert kind(client) == ("ExpiredUser", False)
    lab.state.client.delete(lab.state.keys.session(session_id))  # the expired record lapses
    assert kind(client) == ("AnonymousUser", False)


def test_actions_are_kept_per_session_with_a_day_long_ttl(lab: Lab) -> None:
    session_id = lab.start_raw()
    state = lab.state
    with lab.app.app_context():
        user = cast(CurrentUser, state.service.load_user(session_id, poll=False))
        action_id = user.add_action(session_id, {"kind": "light", "on": True})
        key = state.keys.session_actions(session_id)
        stored = json.loads(cast(str, state.client.hget(key, action_id)))
        assert stored["kind"] == "light" and stored["on"] is True and "ts" in stored
        assert 0 < state.client.ttl(key) <= 24 * 3600
        user.store_action(session_id, action_id, {"kind": "light", "on": False})
        assert json.loads(cast(str, state.client.hget(key, action_id)))["on"] is False
        user.clean_actions(session_id)
        assert not state.client.exists(key)
