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

from . import students
from .lab import weblab
from .views import bp


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the lab app.

    :param config: settings applied last (tests use it); ``FLASK_*`` environment variables
        come before it, the defaults below first.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SECRET_KEY="change-me-in-production",
        SESSION_COOKIE_NAME="mylab_session",  # not Flask's "session": see docs/users.md
        WEBLAB_USERNAME="weblabdeusto",
        WEBLAB_PASSWORD="change-me-too",
        WEBLAB_TIMEOUT=15,
        LAB_DATABASE=os.path.join(app.instance_path, "students.sqlite3"),
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    students.init_db(app.config["LAB_DATABASE"])
    weblab.init_app(app)
    app.register_blueprint(bp)
    return app
