"""An advanced example lab laid out as a package, built by an app factory.

* ``hardware``: the simulated device (a motorised slider) behind a lock;
* ``students``: the lab's own user records in SQLite (stdlib ``sqlite3``), reached through
  ``@weblab.user_loader``;
* ``lab``: the ``WebLab`` object, its hooks and its tasks;
* ``views``: the pages and the small JSON API the page polls for task progress.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from weblab_ext.config import require_secrets

from . import students
from .lab import weblab
from .views import bp

csrf = CSRFProtect()


#: Used in debug mode only: published here, so a lab running on them is open to anyone.
DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "dev-only-secret-key-published-in-weblab-ext",
    "WEBLAB_USERNAME": "weblabdeusto",
    "WEBLAB_PASSWORD": "dev-only-rlms-password",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the lab app.

    :param config: settings applied last (tests use it); ``FLASK_*`` environment variables
        come before it, the defaults below first.
    :raises InvalidConfigError: outside debug mode, when a secret is not configured.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SESSION_COOKIE_NAME="mylab_session",  # not Flask's "session": see docs/rlms.md
        WEBLAB_TIMEOUT=15,
        WEBLAB_DEVICES=["slider"],  # one slider: one session at a time (docs/devices.md)
        LAB_DATABASE=os.path.join(app.instance_path, "students.sqlite3"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=not app.debug,  # production is served over HTTPS
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    require_secrets(app.config, DEVELOPMENT_SECRETS, debug=app.debug)
    students.init_db(app.config["LAB_DATABASE"])
    csrf.init_app(app)  # the page sends its token in the X-CSRFToken header
    weblab.init_app(app)
    app.register_blueprint(bp)
    return app
