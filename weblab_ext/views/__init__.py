"""Flask routes of a lab: the RLMS API (both dialects), the student's routes, and the
operator's metrics and admin page.

Views are thin adapters: they parse the request (:mod:`weblab_ext.protocol`), call the app's
session service (:mod:`weblab_ext.runtime.sessions`) and build the reply.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ..config import Settings
from .admin import create_admin_blueprint
from .devices import register_device_views
from .errors import ADMIN_BLUEPRINT, DEVICE_BLUEPRINTS, RLMS_BLUEPRINTS, add_store_error_handlers
from .rlms_api import create_rlms_blueprint
from .student import logout_view, register_student_routes


def register_views(app: Flask, settings: Settings) -> None:
    """Add the RLMS endpoints, the operator's metrics and admin page, the launch/poll/logout
    routes and the static files."""
    base = settings.base_url.rstrip("/")
    weblab, ldl = RLMS_BLUEPRINTS
    app.register_blueprint(create_rlms_blueprint(weblab, f"{base}/weblab", dialect="weblab"))
    app.register_blueprint(create_rlms_blueprint(ldl, f"{base}/ldl", dialect="ldl"))
    register_device_views(app, settings, create_rlms_blueprint)  # WEBLAB_DEVICES
    app.register_blueprint(create_admin_blueprint(f"{base}/weblab"))
    app.register_blueprint(
        Blueprint(
            "weblab_ext", "weblab_ext", static_folder="static", static_url_path="/weblab_ext/static"
        )
    )
    register_student_routes(app, settings.callback_url)
    add_store_error_handlers(app)


def exempt_from_csrf(app: Flask) -> bool:
    """Tell a CSRF protector installed on ``app`` (Flask-WTF's ``CSRFProtect``) to skip
    weblab_ext's own POST routes; ``False`` when there is none yet.

    The RLMS endpoints authenticate with HTTP Basic and carry no cookie, so a forged
    cross-site request has nothing to ride on. The logout route needs the session id in its
    path, a secret another site does not have, and the poll script's ``sendBeacon`` cannot
    add a token header. The admin page's actions carry a token of their own (see
    :mod:`.admin`).
    """
    csrf = app.extensions.get("csrf")
    exempt = getattr(csrf, "exempt", None)
    if exempt is None:
        return False
    for name in (*RLMS_BLUEPRINTS, *DEVICE_BLUEPRINTS, ADMIN_BLUEPRINT):
        if name in app.blueprints:  # the device blueprints exist only with WEBLAB_DEVICES
            exempt(app.blueprints[name])
    exempt(logout_view)
    return True
