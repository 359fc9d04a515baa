"""Flask routes of a lab: the RLMS API (both dialects), the student's routes, and the
operator's metrics and admin page.

Views are thin adapters: they parse the request (:mod:`weblab_ext.protocol`), call the app's
session service (:mod:`weblab_ext.runtime.sessions`) and build the reply.

* :mod:`.rlms_api` — the RLMS endpoints of both dialects;
* :mod:`.student` — launch, poll and logout;
* :mod:`.pages` — the pages weblab_ext shows students itself;
* :mod:`.health` — the health URL; :mod:`.health_shortcut` — its answer ahead of Flask's
  request cycle;
* :mod:`.admin`, :mod:`.metrics` — the operator's blueprint (through the operator service);
  :mod:`.admin_devices` — its device part (states, numbers, reset and maintenance buttons);
  :mod:`.records` — its session records pages (usage charts, a session's timeline);
* :mod:`.errors` — JSON errors under the RLMS prefixes, the store-down answers;
* :mod:`.hooks` — the app-wide before/after-request hooks (threads, autopoll, data);
* :mod:`.devices` — the RLMS endpoints again under each declared device's URL, and the
  devices list (``GET {base_url}/weblab/devices``).
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ..config import Settings
from .admin import create_admin_blueprint
from .devices import register_device_views
from .errors import ADMIN_BLUEPRINT, DEVICE_BLUEPRINTS, RLMS_BLUEPRINTS, add_store_error_handlers
from .rlms_api import add_rlms_routing_replies, create_rlms_blueprint
from .student import close_view, launch_view, logout_view, register_student_routes


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
    add_rlms_routing_replies(app, base)
    add_store_error_handlers(app)


def exempt_from_csrf(app: Flask) -> bool:
    """Tell a CSRF protector installed on ``app`` (Flask-WTF's ``CSRFProtect``) to skip
    weblab_ext's own POST routes; ``False`` when there is none yet.

    The RLMS endpoints authenticate with HTTP Basic and carry no cookie, so a forged
    cross-site request has nothing to ride on. The logout and close routes need the session
    id in their path, a secret another site does not have, and the poll script's
    ``sendBeacon`` cannot add a token header. The launch URL's confirmation form and the admin
    page's actions carry tokens of their own (see :mod:`.student` and :mod:`.admin`).
    """
    csrf = app.extensions.get("csrf")
    exempt = getattr(csrf, "exempt", None)
    if exempt is None:
        return False
    for name in (*RLMS_BLUEPRINTS, *DEVICE_BLUEPRINTS, ADMIN_BLUEPRINT):
        if name in app.blueprints:  # the device blueprints exist only with WEBLAB_DEVICES
            exempt(app.blueprints[name])
    exempt(logout_view)
    exempt(close_view)
    exempt(launch_view)  # its confirmation form carries a token of its own
    return True
