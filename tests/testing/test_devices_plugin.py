"""The pytest plugin on a device pool: ``weblab_device`` picks the device of ``rlms`` and
``student``."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

POOL_LAB = """
import pytest
from flask import Flask, url_for
from weblab_ext import WebLab, requires_active, weblab_user

@pytest.fixture
def weblab_app(weblab_config):
    app = Flask("pool")
    app.config.update(SECRET_KEY="s", WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p",
                      WEBLAB_DEVICES=["a", "b"])
    app.config.update(weblab_config)
    weblab = WebLab(app)

    @weblab.initial_url
    def initial_url():
        return url_for("lab")

    @app.route("/lab")
    @requires_active
    def lab():
        return weblab_user.device

    return app
"""


def test_the_plugin_starts_students_on_a_device(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(POOL_LAB)
    pytester.makepyfile("""
        import pytest

        def test_first_device_by_default(student, weblab_device):
            assert weblab_device == "a"
            assert student.get("/lab").get_data(as_text=True) == "a"
            assert student.dispose().finished

        @pytest.mark.parametrize("weblab_device", ["a", "b"])
        def test_each_device(student, weblab_device):
            assert student.get("/lab").get_data(as_text=True) == weblab_device
            assert student.status() > 0

        def test_another_device_by_hand(weblab_lab):
            assert weblab_lab.student(device="b").user().device == "b"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
