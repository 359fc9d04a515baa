"""The pytest plugin for lab authors, run with ``pytester`` on docs/example_test_lab.py."""

from __future__ import annotations

import pytest

from tests.support.paths import DOCS
from tests.support.redis_server import RedisServer

pytest_plugins = ["pytester"]

EXAMPLE = DOCS / "example_test_lab.py"
TINY_FACTORY = """
import pytest
from flask import Flask, url_for
from weblab_ext import WebLab, requires_active, weblab_user

def create_app(config):
    app = Flask("tiny")
    app.config.update(SECRET_KEY="s", WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p")
    app.config.update(config)
    weblab = WebLab(app)

    @weblab.initial_url
    def initial_url():
        return url_for("lab")

    @app.route("/lab")
    @requires_active
    def lab():
        return weblab_user.username

    return app
"""
TINY_LAB = (
    TINY_FACTORY
    + """
@pytest.fixture
def weblab_app(weblab_config):
    return create_app(weblab_config)
"""
)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_the_documented_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = run(pytester, "-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        [
            "*test_every_rlms_can_run_a_session?weblabdeusto? PASSED*",
            "*test_every_rlms_can_run_a_session?ldl? PASSED*",
        ]
    )


def test_the_example_on_a_real_redis(pytester: pytest.Pytester, redis_server: RedisServer) -> None:
    import redis

    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = run(pytester, f"--weblab-redis-url={redis_server.url}")
    result.assert_outcomes(passed=9)
    client = redis.Redis.from_url(redis_server.url)
    assert list(client.scan_iter(match="{weblab-test-*")) == []  # each test cleaned up


def test_ini_option(pytester: pytest.Pytester, redis_server: RedisServer) -> None:
    pytester.makeini(f"[pytest]\nweblab_redis_url = {redis_server.url}\n")
    pytester.makeconftest(TINY_LAB)
    pytester.makepyfile("""
        def test_store(weblab_lab, weblab_config):
            assert weblab_lab.state.settings.redis_url.startswith("redis://")
            assert weblab_config["WEBLAB_REDIS_BASE"].startswith("weblab-test-")
    """)
    run(pytester).assert_outcomes(passed=1)


def test_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(TINY_LAB)
    pytester.makepyfile("""
        import pytest

        def test_student(student, rlms, weblab_lab):
            assert student.get("/lab").get_data(as_text=True) == "john"
            assert student.session_id in student.launch_url
            assert student.user().username == "john"
            assert student.status() == 5
            assert student.logout().status_code == 200
            assert student.status() == -1
            assert student.dispose().finished
            assert rlms.profile.name == "weblabdeusto"
            assert weblab_lab.run_tasks() == 0

        def test_isolated_stores(weblab_lab, weblab_config):
            assert weblab_config["WEBLAB_REDIS_URL"].startswith("fakeredis://weblab-test-")
            assert weblab_lab.state.settings.redis_base == weblab_config["WEBLAB_REDIS_BASE"]
            assert weblab_lab.state.sessions.load("x") is None

        @pytest.mark.weblab_profiles("ldl", "wld-2017")
        def test_some_profiles(student, rlms_profile):
            assert student.rlms.profile.name == rlms_profile
            assert student.get("/lab").status_code == 200

        def test_no_real_sleep(rlms, student):
            student.logout()
            trace = rlms.run_status_loop(student.session_id, max_calls=3)
            assert trace.reason == "dispose"
            assert rlms.sleep.calls == trace.sleeps

        def test_eager_flag(weblab_lab, weblab_eager_tasks):
            assert weblab_lab.test_client().eager_tasks is True

        def test_timeout(weblab_lab):  # the example of docs/testing.md section 5
            clock = [1_700_000_000.0]
            weblab_lab.state.clock = lambda: clock[0]
            rlms = weblab_lab.rlms(now=lambda: clock[0],
                                   sleep=lambda s: clock.__setitem__(0, clock[0] + s))
            student = weblab_lab.student(rlms, slot_length=600)
            trace = rlms.run_status_loop(student.session_id, max_calls=20)
            assert trace.reason == "dispose"
            assert list(trace) == [5, 5, 5, -1]
    """)
    pytester.makepyfile(
        test_override="""
        import pytest

        @pytest.fixture
        def weblab_config(weblab_config):
            return {**weblab_config, "WEBLAB_TIMEOUT": 5}

        def test_overridden(weblab_lab):
            assert weblab_lab.state.timeout == 5
    """
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        ["*test_some_profiles?ldl? PASSED*", "*test_some_profiles?weblabdeusto-2017? PASSED*"]
    )


def test_missing_override_is_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_lab(weblab_lab):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*override the `weblab_app` fixture in your conftest.py*"])
    assert "Traceback" not in result.stdout.str()


def test_app_without_weblab_is_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from flask import Flask

        @pytest.fixture
        def weblab_app():
            return Flask("plain")

        def test_lab(weblab_lab):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*weblab_ext is not installed on this app*"])


def test_inert_for_other_projects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_plain(request):
            assert "weblab_lab" not in request.fixturenames

        def test_fixture_named_like_ours(tmp_path):
            assert tmp_path.exists()
    """)
    # A fresh interpreter, as a project's own `pytest` run is: in-process, weblab_ext is
    # already imported, which `-W error` turns into an error under some installs.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--markers")
    result.stdout.fnmatch_lines(["*weblab_profiles(*names)*", "*weblab_eager_tasks*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--help")
    result.stdout.fnmatch_lines(["*--weblab-redis-url=URL*"])


# The quickstart's shape: the app is built (and init_app run) when the module is imported.
MODULE_LEVEL_LAB = (
    TINY_FACTORY
    + """
app = create_app({})
"""
)


def test_a_module_level_app_gets_the_test_config(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(module_lab=MODULE_LEVEL_LAB)
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def weblab_app():
            from module_lab import app
            return app
    """)
    pytester.makepyfile("""
        import module_lab

        SEEN = []

        def test_first(student, weblab_lab, weblab_config):
            settings = weblab_lab.state.settings
            assert settings.redis_url == weblab_config["WEBLAB_REDIS_URL"]
            assert settings.redis_base == weblab_config["WEBLAB_REDIS_BASE"]
            assert settings.no_thread and weblab_lab.app.testing
            assert student.get("/lab").get_data(as_text=True) == "john"
            SEEN.append(student.session_id)

        def test_second_gets_a_fresh_store(weblab_lab):
            assert weblab_lab.user(SEEN[0]).is_anonymous

        def test_the_app_is_restored_after_each_test():
            app = module_lab.app
            assert "WEBLAB_REDIS_URL" not in app.config and not app.testing
            assert app.name == "tiny"
            assert app.extensions["weblab"].settings.redis_url is None
    """)
    run(pytester, "-v").assert_outcomes(passed=3)


def test_a_lab_importing_its_app_in_weblab_app_is_in_testing_mode(
    pytester: pytest.Pytester,
) -> None:
    """The Quickstart's lab requires its secrets outside debug mode; imported by the
    weblab_app fixture it is in testing mode and takes its development ones. The variable
    that says so is set for that fixture only."""
    pytester.makepyfile(
        secret_lab="""
        from flask import Flask, url_for
        from weblab_ext import WebLab
        from weblab_ext.config import require_secrets

        app = Flask("secret_lab")
        app.config.from_prefixed_env()
        require_secrets(app.config, {"SECRET_KEY": "dev-key", "WEBLAB_USERNAME": "u",
                                     "WEBLAB_PASSWORD": "dev-only-rlms-password"}, debug=app.debug)
        weblab = WebLab(app)
        weblab.initial_url(lambda: url_for("secret_lab.index"))
        """
    )
    pytester.makeconftest("""
        import os
        import pytest

        @pytest.fixture
        def weblab_app():
            from secret_lab import app
            return app
    """)
    pytester.makepyfile("""
        import os

        def test_development_secrets(weblab_lab):
            assert weblab_lab.app.config["SECRET_KEY"] == "dev-key"
            assert "FLASK_TESTING" not in os.environ

        def test_without_the_fixture():
            assert "FLASK_TESTING" not in os.environ
    """)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    assert "dev-only-rlms-password" not in result.stdout.str()


def test_a_module_level_app_whose_routes_would_change_is_explained(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(module_lab=MODULE_LEVEL_LAB)
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def weblab_config(weblab_config):
            return {**weblab_config, "WEBLAB_CALLBACK_URL": "/go"}

        @pytest.fixture
        def weblab_app():
            from module_lab import app
            return app
    """)
    pytester.makepyfile("""
        def test_lab(weblab_lab):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the app was built before the test config could be applied, "
            "and WEBLAB_CALLBACK_URL shaped its routes*",
            "*build the app in a factory*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
