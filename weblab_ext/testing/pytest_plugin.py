"""pytest plugin of weblab_ext (registered through the ``pytest11`` entry point).

It is loaded in every pytest run of an environment where weblab_ext is installed, so it only
adds options, markers and fixtures: nothing happens unless a test asks for a fixture.

The lab author overrides one fixture, ``weblab_app``, returning the lab's app: built by a
factory with the isolating config the plugin hands over, or the module-level ``app`` of a
one-file lab, to which the plugin applies that config itself (and which it restores after
the test):

.. code-block:: python

    # conftest.py
    import pytest
    from mylab import create_app

    @pytest.fixture
    def weblab_app(weblab_config):
        return create_app(weblab_config)   # weblab_config applied BEFORE WebLab.init_app

    # or, for a lab written as `app = Flask(__name__)` at module level:
    @pytest.fixture
    def weblab_app():
        from mylab import app
        return app

Fixtures: ``weblab_config``, ``weblab_app`` (to override), ``weblab_lab``, ``rlms_profile``,
``weblab_device``, ``rlms``, ``student``, ``weblab_eager_tasks``. Markers:
``weblab_profiles`` (run once per RLMS profile) and ``weblab_eager_tasks``. Options:
``--weblab-redis-url`` / ini ``weblab_redis_url``. See ``docs/testing.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flask import Flask

    from weblab_ext.rlms import RLMSClient

    from .harness import LabUnderTest, Student

_DEFAULT_PROFILE = "weblabdeusto"
_TESTING_VARIABLE = "FLASK_TESTING"
_REDIS_HELP = (
    "Run weblab_ext lab tests on this Redis (e.g. redis://127.0.0.1:6379/0) instead of a fresh "
    "in-process store; each test gets its own WEBLAB_REDIS_BASE, nothing is flushed."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("weblab_ext", "weblab_ext lab testing")
    group.addoption(
        "--weblab-redis-url", dest="weblab_redis_url", default=None, metavar="URL", help=_REDIS_HELP
    )
    parser.addini("weblab_redis_url", _REDIS_HELP, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "weblab_profiles(*names): run the test once per RLMS profile of weblab_ext.rlms "
        "(all of them, or the names given) through the rlms_profile fixture",
    )
    config.addinivalue_line(
        "markers",
        "weblab_eager_tasks: test clients of weblab_lab/student run queued weblab tasks "
        "inline after every request",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("weblab_profiles")
    if marker is None or "rlms_profile" not in metafunc.fixturenames:
        return
    from weblab_ext.rlms import PROFILES, get_profile

    names = [get_profile(name).name for name in marker.args] or list(PROFILES)
    metafunc.parametrize("rlms_profile", names, indirect=True, ids=names)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[Any]:
    """While the ``weblab_app`` fixture runs (and imports a module-level lab), say "testing"
    the way Flask apps read their config from the environment: ``FLASK_TESTING=true``, read
    by ``app.config.from_prefixed_env()``. A lab written as the Quickstart shows then takes
    its development secrets (see :func:`weblab_ext.config.require_secrets`) and is not warned
    about them, as in debug mode. Other fixtures and the tests themselves see the
    environment unchanged."""
    if fixturedef.argname != "weblab_app":
        return (yield)
    saved = os.environ.get(_TESTING_VARIABLE)
    os.environ[_TESTING_VARIABLE] = "true"
    try:
        return (yield)
    finally:
        if saved is None:
            os.environ.pop(_TESTING_VARIABLE, None)
        else:
            os.environ[_TESTING_VARIABLE] = saved


def _redis_url(config: pytest.Config) -> str | None:
    value = config.getoption("weblab_redis_url") or config.getini("weblab_redis_url")
    return str(value) if value else None


@pytest.fixture
def weblab_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Config overrides to apply to the lab app *before* ``WebLab.init_app``.

    A fresh store per test (``fakeredis://...``, or ``--weblab-redis-url`` with a fresh
    ``WEBLAB_REDIS_BASE``), ``TESTING`` and ``WEBLAB_NO_THREAD``. Override the fixture, or
    update the dict in your own, to change them.
    """
    from .harness import isolated_config

    return isolated_config(_redis_url(request.config))


@pytest.fixture
def weblab_app(weblab_config: dict[str, Any]) -> Flask:
    """The lab's Flask app: override this fixture in your ``conftest.py``."""
    pytest.fail(
        "weblab_ext: override the `weblab_app` fixture in your conftest.py, e.g.\n\n"
        "    @pytest.fixture\n"
        "    def weblab_app(weblab_config):\n"
        "        return create_app(weblab_config)  # applied before WebLab.init_app\n\n"
        "or, for a lab with a module-level app (the plugin applies weblab_config to it):\n\n"
        "    @pytest.fixture\n"
        "    def weblab_app():\n"
        "        from mylab import app\n"
        "        return app\n",
        pytrace=False,
    )


@pytest.fixture
def weblab_eager_tasks() -> bool:
    """Request it (or use ``@pytest.mark.weblab_eager_tasks``) to run tasks eagerly."""
    return True


def _eager(request: pytest.FixtureRequest) -> bool:
    return (
        "weblab_eager_tasks" in request.fixturenames
        or request.node.get_closest_marker("weblab_eager_tasks") is not None
    )


@pytest.fixture
def rlms_profile(request: pytest.FixtureRequest) -> str:
    """The RLMS profile name of this test (``weblabdeusto`` unless parametrised)."""
    return str(getattr(request, "param", _DEFAULT_PROFILE))


@pytest.fixture
def weblab_lab(
    request: pytest.FixtureRequest,
    weblab_app: Flask,
    weblab_config: dict[str, Any],
    rlms_profile: str,
) -> Iterator[LabUnderTest]:
    """The lab app under test (:class:`weblab_ext.testing.harness.LabUnderTest`), with
    ``weblab_config`` applied (by the app's factory, or here to an app built at import)."""
    from .harness import LabUnderTest, apply_test_config

    try:
        undo = apply_test_config(weblab_app, weblab_config)
        lab = LabUnderTest(weblab_app, eager_tasks=_eager(request), profile=rlms_profile)
    except ValueError as error:
        pytest.fail(f"weblab_ext: {error}", pytrace=False)
    yield lab
    shared = not str(lab.state.settings.redis_url or "").startswith("fakeredis://")
    isolated = lab.state.settings.redis_base == weblab_config.get("WEBLAB_REDIS_BASE")
    # Only delete what this test's fresh base created on a shared Redis.
    lab.close(delete_keys=shared and isolated)
    undo()


@pytest.fixture
def weblab_device(weblab_lab: LabUnderTest) -> str | None:
    """The device (of ``WEBLAB_DEVICES``) that ``rlms`` and ``student`` use: the first
    declared one, ``None`` in a lab without devices. Override or parametrize it to test
    another device."""
    devices = weblab_lab.state.settings.devices
    return devices[0] if devices else None


@pytest.fixture
def rlms(weblab_lab: LabUnderTest, rlms_profile: str, weblab_device: str | None) -> RLMSClient:
    """An RLMS client calling the lab in-process as ``rlms_profile`` does (no real waits),
    as the RLMS resource of ``weblab_device`` when the lab declares devices."""
    return weblab_lab.rlms(rlms_profile, device=weblab_device)


@pytest.fixture
def student(weblab_lab: LabUnderTest, rlms: RLMSClient) -> Student:
    """A student who followed the launch URL of a session just started by ``rlms``."""
    return weblab_lab.student(rlms)
