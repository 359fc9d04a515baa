"""Configuration (SPEC §3): every default, every invalid value, nothing registered on failure."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.support.clock import Clock
from tests.support.lab import Lab
from tests.support.paths import REPO
from weblab_ext import InvalidConfigError, WebLab
from weblab_ext.config import OPTIONS, flag_warnings, load_settings

MINIMAL = {"WEBLAB_USERNAME": "user", "WEBLAB_PASSWORD": "secret"}

DEFAULTS = {
    "username": "user",
    "password": "secret",
    "base_url": "",
    "callback_url": "/callback",
    "session_id_name": "weblab_session_id",
    "redis_url": None,
    "redis_base": "lab",
    "task_expires": 3600,
    "timeout": 15,
    "autopoll": True,
    "poll_interval": 5,
    "cleaner_interval": 5,
    "unauthorized_link": None,
    "unauthorized_template": None,
    "scheme": None,
    "expired_users_timeout": 3600,
    "autoclean_thread": True,
    "task_threads_process": 3,
    "no_thread": False,
    "log_session_lifecycle": True,
    "dispose_wait": 5,
    "dispose_ask_again": 1,
    "heartbeat_interval": 5,
    "powered_by": "weblab_ext",
    "cleaner_concurrency": 16,
    "cleaner_batch": 50,
    "health_check_interval": 10,
    "health_check_timeout": 5,
}


def test_defaults() -> None:
    settings = load_settings(MINIMAL)
    values = {name: getattr(settings, name) for name in DEFAULTS}
    assert values == DEFAULTS


def test_every_spec_key_is_known() -> None:
    keys = {option.key for option in OPTIONS}
    spec_keys = {
        "WEBLAB_USERNAME",
        "WEBLAB_PASSWORD",
        "WEBLAB_BASE_URL",
        "WEBLAB_CALLBACK_URL",
        "WEBLAB_SESSION_ID_NAME",
        "WEBLAB_REDIS_URL",
        "WEBLAB_REDIS_BASE",
        "WEBLAB_TASK_EXPIRES",
        "WEBLAB_TIMEOUT",
        "WEBLAB_AUTOPOLL",
        "WEBLAB_POLL_INTERVAL",
        "WEBLAB_CLEANER_INTERVAL",
        "WEBLAB_UNAUTHORIZED_LINK",
        "WEBLAB_UNAUTHORIZED_TEMPLATE",
        "WEBLAB_SCHEME",
        "WEBLAB_EXPIRED_USERS_TIMEOUT",
        "WEBLAB_AUTOCLEAN_THREAD",
        "WEBLAB_TASK_THREADS_PROCESS",
        "WEBLAB_NO_THREAD",
        "WEBLAB_LOG_SESSION_LIFECYCLE",
        "WEBLAB_REDIS_INDEX_MODE",
        "WEBLAB_REDIS_INDEX_EPOCH",
    }
    assert spec_keys <= keys
    assert all(option.doc for option in OPTIONS)


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("WEBLAB_BASE_URL", "/labs/one", "base_url", "/labs/one"),
        ("WEBLAB_CALLBACK_URL", "/go", "callback_url", "/go"),
        ("WEBLAB_REDIS_URL", "redis://localhost:6379/3", "redis_url", "redis://localhost:6379/3"),
        ("WEBLAB_REDIS_URL", "", "redis_url", None),
        ("WEBLAB_TIMEOUT", "-1", "timeout", -1.0),
        ("WEBLAB_TIMEOUT", 0, "timeout", 0),
        ("WEBLAB_AUTOPOLL", False, "autopoll", False),
        ("WEBLAB_AUTOPOLL", 1, "autopoll", True),
        ("WEBLAB_POLL_INTERVAL", 0, "poll_interval", 0),
        ("WEBLAB_SCHEME", "https", "scheme", "https"),
        ("WEBLAB_UNAUTHORIZED_LINK", "", "unauthorized_link", None),
        ("WEBLAB_POWERED_BY", None, "powered_by", None),
        ("WEBLAB_TASK_THREADS_PROCESS", 0, "task_threads_process", 0),
        ("WEBLAB_DISPOSE_WAIT", 0, "dispose_wait", 0),
        (
            "WEBLAB_REDIS_URL",
            "redis+cluster://n1:7000,n2:7001",
            "redis_url",
            "redis+cluster://n1:7000,n2:7001",
        ),
        (
            "WEBLAB_REDIS_URL",
            "rediss+cluster://:pw@n1:7000",
            "redis_url",
            "rediss+cluster://:pw@n1:7000",
        ),
        (
            "WEBLAB_REDIS_URL",
            "redis+sentinel://s1:26379,s2:26379/lab/1",
            "redis_url",
            "redis+sentinel://s1:26379,s2:26379/lab/1",
        ),
        ("WEBLAB_CLEANER_CONCURRENCY", 1, "cleaner_concurrency", 1),
        ("WEBLAB_CLEANER_BATCH", 500, "cleaner_batch", 500),
    ],
)
def test_valid_values(key: str, value: Any, attribute: str, expected: Any) -> None:
    assert getattr(load_settings({**MINIMAL, key: value}, environ={}), attribute) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WEBLAB_USERNAME", ""),
        ("WEBLAB_USERNAME", 5),
        ("WEBLAB_PASSWORD", None),
        ("WEBLAB_BASE_URL", 5),
        ("WEBLAB_SESSION_ID_NAME", ""),
        ("WEBLAB_REDIS_URL", "http://localhost"),
        ("WEBLAB_REDIS_URL", 6379),
        ("WEBLAB_REDIS_BASE", ""),
        ("WEBLAB_REDIS_BASE", 1),
        ("WEBLAB_TASK_EXPIRES", 0),
        ("WEBLAB_TASK_EXPIRES", "an hour"),
        ("WEBLAB_TIMEOUT", "soon"),
        ("WEBLAB_TIMEOUT", True),
        ("WEBLAB_TIMEOUT", None),
        ("WEBLAB_TIMEOUT", float("nan")),
        ("WEBLAB_TIMEOUT", "inf"),
        ("WEBLAB_POLL_INTERVAL", -1),
        ("WEBLAB_POLL_INTERVAL", [5]),
        ("WEBLAB_CLEANER_INTERVAL", 0),
        ("WEBLAB_UNAUTHORIZED_LINK", 5),
        ("WEBLAB_UNAUTHORIZED_TEMPLATE", ["x.html"]),
        ("WEBLAB_SCHEME", "ftp"),
        ("WEBLAB_EXPIRED_USERS_TIMEOUT", 0),
        ("WEBLAB_TASK_THREADS_PROCESS", -1),
        ("WEBLAB_TASK_THREADS_PROCESS", 1.5),
        ("WEBLAB_TASK_THREADS_PROCESS", True),
        ("WEBLAB_REDIS_INDEX_MODE", "fast"),
        ("WEBLAB_DISPOSE_WAIT", -0.5),
        ("WEBLAB_DISPOSE_ASK_AGAIN", 0),
        ("WEBLAB_HEARTBEAT_INTERVAL", 0),
        ("WEBLAB_POWERED_BY", 5),
        ("WEBLAB_REDIS_URL", "cluster://n1:7000"),
        ("WEBLAB_CLEANER_CONCURRENCY", 0),
        ("WEBLAB_CLEANER_CONCURRENCY", 2.5),
        ("WEBLAB_CLEANER_CONCURRENCY", True),
        ("WEBLAB_CLEANER_BATCH", 0),
        ("WEBLAB_CLEANER_BATCH", "50"),
        ("WEBLAB_HEALTH_CHECK_INTERVAL", 0),
        ("WEBLAB_HEALTH_CHECK_INTERVAL", -1),
    ],
)
def test_invalid_values_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(InvalidConfigError, match=key):
        load_settings({**MINIMAL, key: value}, environ={})


def test_index_mode_needs_epoch() -> None:
    with pytest.raises(InvalidConfigError, match="WEBLAB_REDIS_INDEX_EPOCH"):
        load_settings({**MINIMAL, "WEBLAB_REDIS_INDEX_MODE": "shadow"})
    settings = load_settings(
        {**MINIMAL, "WEBLAB_REDIS_INDEX_MODE": "indexed", "WEBLAB_REDIS_INDEX_EPOCH": "e1"}
    )
    assert settings.username == "user"


@pytest.mark.parametrize("key", ["WEBLAB_USERNAME", "WEBLAB_PASSWORD"])
def test_missing_credentials(key: str) -> None:
    config = dict(MINIMAL)
    del config[key]
    with pytest.raises(InvalidConfigError, match=f"Missing {key}"):
        load_settings(config)
    assert issubclass(InvalidConfigError, ValueError)


def test_username_is_checked_first() -> None:
    with pytest.raises(InvalidConfigError, match="Missing WEBLAB_USERNAME"):
        load_settings({})


@pytest.mark.parametrize("value", ["", None, 5])
def test_empty_callback_url(value: Any) -> None:
    with pytest.raises(InvalidConfigError, match="Empty URL"):
        load_settings({**MINIMAL, "WEBLAB_CALLBACK_URL": value})
    with pytest.raises(InvalidConfigError, match="Empty URL"):
        load_settings(MINIMAL, callback_url="")


def test_constructor_urls_win() -> None:
    config = {**MINIMAL, "WEBLAB_BASE_URL": "/config", "WEBLAB_CALLBACK_URL": "/config-cb"}
    settings = load_settings(config, base_url="/ctor", callback_url="/ctor-cb")
    assert (settings.base_url, settings.callback_url) == ("/ctor", "/ctor-cb")


def test_no_thread_conflicts() -> None:
    with pytest.raises(InvalidConfigError, match="incompatible with WEBLAB_AUTOCLEAN_THREAD"):
        load_settings({**MINIMAL, "WEBLAB_NO_THREAD": True, "WEBLAB_AUTOCLEAN_THREAD": True})
    with pytest.raises(InvalidConfigError, match="WEBLAB_TASK_THREADS_PROCESS"):
        load_settings({**MINIMAL, "WEBLAB_NO_THREAD": True, "WEBLAB_TASK_THREADS_PROCESS": 5})
    # Absent keys (defaults) do not conflict, and NO_THREAD turns the threads off.
    settings = load_settings({**MINIMAL, "WEBLAB_NO_THREAD": True})
    assert (settings.autoclean_thread, settings.task_threads_process) == (False, 0)
    settings = load_settings(
        {
            **MINIMAL,
            "WEBLAB_NO_THREAD": True,
            "WEBLAB_AUTOCLEAN_THREAD": False,
            "WEBLAB_TASK_THREADS_PROCESS": 0,
        }
    )
    assert settings.no_thread is True


@pytest.mark.parametrize(
    "bad",
    [
        {"WEBLAB_USERNAME": None},
        {"WEBLAB_TIMEOUT": "x"},
        {"WEBLAB_CALLBACK_URL": ""},
        {"WEBLAB_NO_THREAD": True, "WEBLAB_AUTOCLEAN_THREAD": True},
    ],
)
def test_nothing_registered_on_invalid_config(bad: dict[str, Any]) -> None:
    app = Flask(f"bad_{uuid.uuid4().hex[:6]}")
    app.config.update(SECRET_KEY="s", WEBLAB_REDIS_URL=f"fakeredis://{uuid.uuid4().hex}", **MINIMAL)
    app.config.update(bad)
    if bad.get("WEBLAB_USERNAME", "") is None:
        del app.config["WEBLAB_USERNAME"]
    rules_before = {rule.rule for rule in app.url_map.iter_rules()}
    with pytest.raises(InvalidConfigError):
        WebLab(app)
    assert "weblab" not in app.extensions
    assert app.blueprints == {}
    assert {rule.rule for rule in app.url_map.iter_rules()} == rules_before
    assert not any(app.before_request_funcs.values())
    assert not any(app.after_request_funcs.values())
    assert not app.template_context_processors[None][1:]
    assert "weblab" not in app.cli.commands


# -- advice and typos (issue 12) ----------------------------------------------------------------

HOW_TO_SET_REDIS = (
    'app.config["WEBLAB_REDIS_URL"] = "redis://localhost:6379/0"',
    "export FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0",
    "app.config.from_prefixed_env()",
)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings about configuration keys (not those about weak secrets)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "weblab_ext"
        and r.levelname == "WARNING"
        and r.getMessage().startswith("Unknown configuration key")
    ]


def test_misspelt_key_warns_with_the_closest_known_key(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("typo")
    app.config.update(
        MINIMAL,
        WEBLAB_TIMOUT=30,
        WEBLAB_REDIS_ULR="redis://x",
        WEBLAB_SOMETHING_ELSE=1,
        WEBLAB_TIMEOUT=20,
        WEBLAB_REDIS_URL=f"fakeredis://{uuid.uuid4().hex}",
    )
    WebLab(app)
    assert _warnings(caplog) == [
        "Unknown configuration key WEBLAB_REDIS_ULR (ignored): did you mean WEBLAB_REDIS_URL?",
        "Unknown configuration key WEBLAB_SOMETHING_ELSE (ignored): weblab_ext does not read it",
        "Unknown configuration key WEBLAB_TIMOUT (ignored): did you mean WEBLAB_TIMEOUT?",
    ]


def test_misspelt_environment_variable_warns_too(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLASK_WEBLAB_TASK_THREAD_PROCESS", "0")
    app = Flask("typo_env")
    app.config.update(MINIMAL, WEBLAB_REDIS_URL=f"fakeredis://{uuid.uuid4().hex}")
    app.config.from_prefixed_env()
    WebLab(app)
    assert _warnings(caplog) == [
        "Unknown configuration key WEBLAB_TASK_THREAD_PROCESS (ignored): did you mean "
        "WEBLAB_TASK_THREADS_PROCESS?"
    ]


def test_known_keys_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("known")
    app.config.update(
        {option.key: option.default for option in OPTIONS if option.default is not None}, **MINIMAL
    )
    app.config["WEBLAB_REDIS_URL"] = f"fakeredis://{uuid.uuid4().hex}"
    WebLab(app)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("key", ["WEBLAB_USERNAME", "WEBLAB_PASSWORD"])
def test_missing_key_says_how_to_set_it(key: str) -> None:
    config = dict(MINIMAL)
    del config[key]
    with pytest.raises(InvalidConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert message.startswith(f"Invalid configuration. Missing {key}: ")
    assert f'app.config["{key}"] = ' in message
    assert f"export FLASK_{key}=" in message and "app.config.from_prefixed_env()" in message


def test_the_advised_environment_variable_works(monkeypatch: pytest.MonkeyPatch) -> None:
    from weblab_ext.config import redis_url_advice

    advice = redis_url_advice()
    for way in HOW_TO_SET_REDIS:
        assert way in advice
    name, _ = re.search(r"export (\S+)=(\S+)", advice).groups()  # type: ignore[union-attr]
    url = f"fakeredis://{uuid.uuid4().hex}"
    monkeypatch.setenv(name, url)
    app = Flask("advised")
    app.config.update(MINIMAL)
    app.config.from_prefixed_env()
    WebLab(app)
    assert app.extensions["weblab"].settings.redis_url == url


def test_no_text_advises_a_bare_environment_variable() -> None:
    """``WEBLAB_REDIS_URL=redis://...`` in a shell is read by nobody: no message or page may
    advise it (the FLASK_ prefix, or the Flask config, are what work)."""
    root = REPO
    files = [
        *root.glob("weblab_ext/**/*.py"),
        *root.glob("docs/*.md"),
        root / "README.md",
        *root.glob("examples/**/*.md"),
        *root.glob("examples/**/*.py"),
    ]
    bare = re.compile(r"(?<![\w\"'])WEBLAB_\w+=(?:redis|rediss|unix|\.\.\.)")
    found = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in files
        for match in bare.finditer(path.read_text())
    ]
    assert found == []


# -- boolean keys: weblablib's meaning in code, the parsed one from the environment ----------

FLAG_KEYS = [option.key for option in OPTIONS if option.type_name == "boolean"]


def _attribute(key: str) -> str:
    return key.removeprefix("WEBLAB_").lower()


def test_every_boolean_key_is_covered() -> None:
    assert {
        "WEBLAB_AUTOPOLL",
        "WEBLAB_AUTOCLEAN_THREAD",
        "WEBLAB_NO_THREAD",
        "WEBLAB_LOG_SESSION_LIFECYCLE",
        "WEBLAB_LAUNCH_ONCE",
    } <= set(FLAG_KEYS)


@pytest.mark.parametrize("key", FLAG_KEYS)
@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        ("False", True),
        ("false", True),
        ("no", True),
        ("0", True),
        ("", False),
        (None, False),
        (2, True),
        (0, False),
        ([], False),
    ],
)
def test_boolean_set_in_code_reads_as_weblablib_with_a_warning(
    key: str, value: Any, meaning: bool
) -> None:
    """A public lab ships ``WEBLAB_AUTOPOLL = 'False'``: weblablib reads it as true (any
    non-empty string is), so the lab works with autopoll on; it must here too."""
    config = {**MINIMAL, key: value}
    assert getattr(load_settings(config, environ={}), _attribute(key)) is meaning
    (warning,) = flag_warnings(config, environ={})
    assert warning.startswith(f"{key} = {value!r} means {meaning}:"), warning


@pytest.mark.parametrize("key", FLAG_KEYS)
def test_a_bool_set_in_code_does_not_warn(key: str) -> None:
    for value in (True, False):
        config = {**MINIMAL, key: value}
        assert getattr(load_settings(config, environ={}), _attribute(key)) is value
        assert flag_warnings(config, environ={}) == []


def test_string_false_in_code_keeps_autopoll_on(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    lab = make_lab(WEBLAB_AUTOPOLL="False")
    assert lab.state.settings.autopoll is True
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("WEBLAB_AUTO")]
    assert notes == [
        "WEBLAB_AUTOPOLL = 'False' means True: a value set in code that is not True or False "
        "counts by its Python truth value, as in weblablib (any non-empty string is true, "
        "'False' included). Set WEBLAB_AUTOPOLL = True or WEBLAB_AUTOPOLL = False to say what "
        "you mean."
    ]
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start_raw()
    clock.now += 10
    lab.browser(session_id).get("/lab")  # any request of the student counts as a poll
    assert lab.record(session_id).last_poll == pytest.approx(clock.now)


@pytest.mark.parametrize("key", FLAG_KEYS)
@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("true", True),
        ("True", True),
        ("yes", True),
        ("1", True),
    ],
)
def test_boolean_from_the_environment_keeps_its_parsed_meaning(
    monkeypatch: pytest.MonkeyPatch, key: str, text: str, meaning: bool
) -> None:
    monkeypatch.setenv(f"FLASK_{key}", text)
    app = Flask("flags_env")
    app.config.update(MINIMAL)
    app.config.from_prefixed_env()
    assert getattr(load_settings(app.config), _attribute(key)) is meaning
    assert flag_warnings(app.config) == []


def test_boolean_from_another_prefix_counts_as_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MYLAB_WEBLAB_AUTOPOLL", "False")
    app = Flask("flags_prefix")
    app.config.update(MINIMAL)
    app.config.from_prefixed_env("MYLAB")
    assert load_settings(app.config).autopoll is False


@pytest.mark.parametrize("key", FLAG_KEYS)
@pytest.mark.parametrize("text", ["maybe", "2", "", "null"])
def test_bad_boolean_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: str, text: str
) -> None:
    monkeypatch.setenv(f"FLASK_{key}", text)
    app = Flask("flags_env_bad")
    app.config.update(MINIMAL)
    app.config.from_prefixed_env()
    with pytest.raises(InvalidConfigError, match=f"{key} must be True or False"):
        load_settings(app.config)


def test_code_value_unlike_the_environment_reads_as_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the value the environment holds counts as from it: a lab that writes its own
    string keeps weblablib's meaning even when a variable of that name exists."""
    monkeypatch.setenv("FLASK_WEBLAB_AUTOPOLL", "false")
    config = {**MINIMAL, "WEBLAB_AUTOPOLL": "off"}
    assert load_settings(config).autopoll is True
    assert len(flag_warnings(config)) == 1
