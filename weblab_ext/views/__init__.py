"""Flask routes of a lab: the RLMS API (both dialects) and the student's routes.

Views are thin adapters: they parse the request (:mod:`weblab_ext.protocol`), call the app's
session service (:mod:`weblab_ext.runtime.sessions`) and build the reply.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ..config import Settings
from .errors import RLMS_BLUEPRINTS, add_store_error_handlers
from .rlms_api import create_rlms_blueprint
from .student import register_student_routes


def register_views(app: Flask, settings: Settings) -> None:
    """Add the RLMS endpoints, the launch/poll/logout routes and the static files."""
    base = settings.base_url.rstrip("/")
    weblab, ldl = RLMS_BLUEPRINTS
    app.register_blueprint(create_rlms_blueprint(weblab, f"{base}/weblab", dialect="weblab"))
    app.register_blueprint(create_rlms_blueprint(ldl, f"{base}/ldl", dialect="ldl"))
    app.register_blueprint(
        Blueprint("weblab_ext", "weblab_ext", static_folder="static",
                  static_url_path="/weblab_ext/static")
    )
    register_student_routes(app, settings.callback_url)
    add_store_error_handlers(app)
