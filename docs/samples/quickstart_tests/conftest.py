import pytest


@pytest.fixture
def weblab_app():
    from app import app  # the quickstart's app.py, next to this file

    return app
