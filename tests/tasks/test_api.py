"""Task API (SPEC §7) on both stores, run inline with ``run_tasks()`` (no threads)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from flask import Flask

import weblab_ext
from tests.support.lab import Lab, base_config
from weblab_ext import (
    AlreadyRunningError,
    NoContextError,
    WebLab,
    WebLabTask,
    current_task,
    current_task_stopping,
    weblab_user,
)
from weblab_ext.context import request_state, session_context


def _lab_with_tasks(make_lab: Callable[..., Lab], **config: Any) -> tuple[Lab, dict[str, Any]]:
    lab = make_lab(**config)
    weblab = lab.weblab
    seen: dict[str, Any] = {}

    @weblab.task()
    def add(a: int, b: int = 0) -> list[Any]:
        current_task.data["inside"] = "yes"
        current_task.store()
        seen["user"] = weblab_user.username
        seen["stopping"] = bool(current_task_stopping)
        return [a + b, "bar"]

    @weblab.task
    def fail() -> float:
        return 1 / 0

    @weblab.task
    def bad_result() -> object:
        return object()

    @weblab.task
    def join_self() -> None:
        current_task.join()

    @weblab.task(unique="global")
    def only_one() -> str:
        return "one"

    @weblab.task(unique="user")
    def per_user() -> str:
        return "user"

    @weblab.task
    def echo(*args: Any, **kwargs: Any) -> Any:
        return {"args": list(args), "kwargs": kwargs}

    seen["tasks"] = {
        "add": add,
        "fail": fail,
        "bad_result": bad_result,
        "join_self": join_self,
        "only_one": only_one,
        "per_user": per_user,
        "echo": echo,
    }
    return lab, seen


def _session(lab: Lab) -> tuple[str, Any]:
    session_id = lab.start_raw()
    ctx = lab.app.test_request_context("/")
    ctx.push()
    request_state().session_id = session_id
    return session_id, ctx


def test_registration_errors() -> None:
    weblab = WebLab()
    with pytest.raises(ValueError, match="unique must be None"):
        weblab.task(unique="bogus")
    with pytest.raises(ValueError, match="unique must be None"):

        @weblab.task("sometimes")
        def f() -> None: ...

    @weblab.task(unique="global")
    def dup() -> None: ...

    with pytest.raises(ValueError, match="same name"):
        weblab.task(dup.func)
    long_name = "x" * 43
    func = lambda: None  # noqa: E731
    func.__name__ = long_name
    with pytest.raises(ValueError, match="number of characters"):
        weblab.task()(func)
    assert "bare" not in weblab._task_registry

    @weblab.task
    def bare() -> int:
        return 3

    assert bare() == 3 and bare.name == "bare"


def test_submit_run_done(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab)
    weblab = lab.weblab
    add = seen["tasks"]["add"]
    session_id, ctx = _session(lab)
    try:
        assert not current_task and not current_task_stopping
        task = add.delay(1, b=0)
        assert repr(task) == f"<WebLab Task {task.task_id}>"
        assert task.status == "submitted" and task.submitted and not task.running
        assert not task.finished and task.result is None and task.error is None
        assert task.session_id == session_id and task.name == "add"
        assert len(weblab.tasks) == 1 and len(weblab.running_tasks) == 1
        assert weblab.get_task(task.task_id) == task
        assert weblab.get_task(add) == task == weblab.get_task(add.func)
        assert weblab.get_task("add") == task == weblab.get_running_task("add")
        assert weblab.get_tasks(add) == [task] == weblab.get_running_tasks("add")
        assert weblab.get_tasks("nope") == [] and weblab.get_running_tasks("nope") == []
        assert weblab.get_task("x" * 43) is None
        with pytest.raises(weblab_ext.TimeoutError, match=r"0\.05 seconds passed"):
            task.join(timeout=0.05)
        assert task.join(timeout=0.01, error_on_timeout=False).submitted

        joined: list[WebLabTask] = []
        joiner = threading.Thread(target=lambda: joined.append(task.join(timeout=3)))
        joiner.start()
        assert weblab.run_tasks() == 1
        joiner.join(3)
        assert joined and joined[0].done
        task.retrieve()
        assert task.status == "done" and task.finished and task.result == [1, "bar"]
        assert task.data["inside"] == "yes"
        with pytest.raises(TypeError):
            task.data["x"] = 1
        assert json.loads(json.dumps(task.data)) == {"inside": "yes"}
        with pytest.raises(ValueError):
            task.data = {}
        with pytest.raises(ValueError):
            task.store()
        assert seen["user"] == "john.smith" and seen["stopping"] is False
        assert weblab.running_tasks == [] and len(weblab.tasks) == 1
        # identity
        same = WebLabTask(task.task_id)
        assert same == task and hash(same) == hash(task) and same != task.task_id
        assert not (same < task) and {same, task} == {task}
        other = add.delay(2)
        assert (task < other) == (task.task_id < other.task_id)
        assert WebLabTask(weblab, task.task_id) == task
        with pytest.raises(ValueError, match="task id nope not found"):
            WebLabTask("nope")
    finally:
        ctx.pop()


def test_failures(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab)
    tasks = seen["tasks"]
    _, ctx = _session(lab)
    try:
        failing = tasks["fail"].delay()
        bad = tasks["bad_result"].delay()
        selfjoin = tasks["join_self"].delay()
        assert lab.weblab.run_tasks() == 3
        failing.retrieve()
        assert failing.failed and failing.result is None
        assert failing.error["code"] == "exception"
        assert failing.error["class"] == "ZeroDivisionError"
        assert "zero" in failing.error["message"]
        bad.join(1)
        assert bad.failed and bad.error["code"] == "exception"
        assert "JSON" in bad.error["message"]
        selfjoin.join(1)
        assert selfjoin.error["class"] == "RuntimeError"
        assert "Deadlock" in selfjoin.error["message"]
    finally:
        ctx.pop()


def test_unknown_task_name(make_lab: Callable[..., Lab], store_url: str) -> None:
    lab, _ = _lab_with_tasks(make_lab)
    base = lab.app.config["WEBLAB_REDIS_BASE"]
    other_app = Flask("other")
    other_app.config.update(base_config(store_url))
    other_app.config["WEBLAB_REDIS_BASE"] = base
    other = WebLab(other_app)

    @other.task
    def only_here() -> None: ...

    session_id, ctx = _session(lab)
    try:
        with other_app.app_context(), session_context(session_id):
            task = only_here.delay()
        lab.weblab.run_tasks()
        task = cast(WebLabTask, lab.weblab.get_task(task.task_id))
        assert task.failed
        assert task.error == {"code": "not-found", "message": "Task only_here not found"}
    finally:
        ctx.pop()


def test_delay_checks(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab)
    echo = seen["tasks"]["echo"]
    with lab.app.app_context(), pytest.raises(NoContextError):
        echo.delay(1)
    with lab.app.test_request_context("/"), pytest.raises(NoContextError):
        echo.delay(1)  # a request without a lab session
    _, ctx = _session(lab)
    try:
        with pytest.raises(TypeError, match="JSON"):
            echo.delay(object())
        with pytest.raises(TypeError, match="JSON"):
            echo.delay(x={1, 2})
        task = echo.run_sync((1, 2), timeout=0.01)
        assert task.submitted
        lab.weblab.run_tasks()
        assert task.join(1).result == {"args": [[1, 2]], "kwargs": {}}
    finally:
        ctx.pop()


def test_stop_and_join_tasks(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab)
    add = seen["tasks"]["add"]
    _, ctx = _session(lab)
    try:
        task = add.delay(1)
        lab.weblab.join_tasks(add, timeout=0.01, stop=True)
        assert task.retrieve().stopping and task.submitted
        lab.weblab.run_tasks()
        assert seen["stopping"] is True  # learnt from the claim
        assert task.join(1).done
    finally:
        ctx.pop()


def test_unique_delay(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab)
    only_one, per_user = seen["tasks"]["only_one"], seen["tasks"]["per_user"]
    session_id, ctx = _session(lab)
    try:
        first = only_one.delay()
        second = only_one.delay()
        assert first.submitted
        assert second.failed and second.error["class"] == "AlreadyRunningError"
        assert second.join(0.1).failed  # joiners of a duplicate return at once
        with pytest.raises(AlreadyRunningError):
            only_one()  # a direct call respects the lock too
        u1 = per_user.delay()
        assert per_user.delay().failed
        other_sid = lab.start_raw()
        with session_context(other_sid):
            assert per_user.delay().submitted  # another session: its own lock
        lab.weblab.run_tasks()
        assert first.join(1).done and u1.join(1).done
        assert only_one.delay().submitted  # lock released at the end
        assert only_one.delay().failed
        assert session_id
    finally:
        ctx.pop()


def test_raise_on_duplicate(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()

    @lab.weblab.task(unique="global", raise_on_duplicate=True)
    def strict() -> None: ...

    _, ctx = _session(lab)
    try:
        strict.delay()
        with pytest.raises(AlreadyRunningError):
            strict.delay()
        assert len(lab.weblab.tasks) == 1
        with pytest.raises(AlreadyRunningError):
            strict()
    finally:
        ctx.pop()


def test_direct_call_unique(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    inner: list[Any] = []

    @lab.weblab.task(unique="global")
    def reentrant(depth: int) -> int:
        if depth:
            try:
                reentrant(depth - 1)
            except AlreadyRunningError as exc:
                inner.append(exc)
        return depth

    with lab.app.app_context():
        assert reentrant(1) == 1
        assert len(inner) == 1
        assert reentrant(0) == 0  # released after the call


def test_progress_events(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab)
    add = seen["tasks"]["add"]
    state = lab.state
    pubsub = state.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(state.keys.task_progress())
    _, ctx = _session(lab)
    try:
        task = add.delay(2, 3)
        lab.weblab.run_tasks()
        events: list[Any] = []
        deadline = time.monotonic() + 2
        while len(events) < 2 and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
            if message:
                events.append(json.loads(message["data"]))
        assert events[0] == {
            "task_id": task.task_id,
            "session_id": task.session_id,
            "name": "add",
            "status": "running",
            "data": {"inside": "yes"},
        }
        assert events[1]["status"] == "done" and events[1]["result"] == [5, "bar"]
    finally:
        ctx.pop()
        pubsub.close()


def test_keys_have_ttls(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab, WEBLAB_TASK_EXPIRES=100)
    add = seen["tasks"]["add"]
    state = lab.state
    _, ctx = _session(lab)
    try:
        task = add.delay(1)
        lab.weblab.run_tasks()
        task.join(1)
        keys = state.keys
        for key in (
            keys.task(task.task_id),
            keys.task_done(task.task_id),
            keys.session_tasks(task.session_id),
        ):
            assert 0 < state.client.ttl(key) <= 100, key
    finally:
        ctx.pop()


def test_dispose_stops_and_keeps_results(make_lab: Callable[..., Lab]) -> None:
    lab, seen = _lab_with_tasks(make_lab, WEBLAB_DISPOSE_WAIT=0.2)
    add = seen["tasks"]["add"]
    session_id, ctx = _session(lab)
    try:
        task = add.delay(1)
    finally:
        ctx.pop()
    started = time.monotonic()
    lab.dispose(session_id)
    assert time.monotonic() - started < 3
    assert task.retrieve().stopping
    # Still queued when its session ended: it never starts (no task of the last student runs
    # after the hand-over), and a worker coming later skips it.
    assert lab.weblab.run_tasks() == 0
    ended = task.join(1)
    assert ended.failed and ended.error["code"] == "stopped-before-start"
    with lab.app.app_context(), session_context(session_id):
        assert lab.weblab.get_task(task.task_id) == task  # still readable after dispose


def test_joining_itself_is_both_a_timeout_and_a_runtime_error() -> None:
    from weblab_ext import TimeoutError as WebLabTimeoutError
    from weblab_ext.errors import DeadlockError

    error = DeadlockError("Deadlock: a task cannot join itself")
    assert isinstance(error, WebLabTimeoutError)
    assert isinstance(error, RuntimeError)
    assert DeadlockError.reported_class == "RuntimeError"
