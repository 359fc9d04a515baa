"""The operator's blueprint: the metrics (``<base>/weblab/metrics``, see :mod:`.metrics`) and
the admin page (``<base>/weblab/admin/``).

Both answer 404 unless ``WEBLAB_ADMIN_USERNAME`` and ``WEBLAB_ADMIN_PASSWORD`` are set, and
then 401 (with ``WWW-Authenticate``) without those credentials, compared in constant time and
never logged. Errors are JSON, as everywhere under the RLMS prefix.

The page's actions (end a session, stop a task) are POSTs a browser authenticates by itself:
it resends HTTP Basic credentials to the lab whatever site a form comes from, so a
credential alone proves nothing. Each action also needs

* a token the page embeds, signed with a key made of ``SECRET_KEY`` and the admin credentials
  and valid for :data:`TOKEN_SECONDS` (another site cannot read the page, so cannot have it;
  a token leaked once stops working soon, and at once when the credentials change), and
* an ``Origin`` (or, without one, a ``Referer``) naming the lab's own host: a form posted
  from another site is refused even with a leaked token.

"End session" asks first: its form leads to a page that names the session's user and
repeats the action with ``confirm=yes`` (plain forms, so it works without a script).

The page is plain HTML and one stylesheet, with no script at all, so it works under a
``script-src 'self'`` policy; it sets its own strict Content-Security-Policy and refuses to
be framed (an admin page in another site's frame could be clicked through).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadData, URLSafeTimedSerializer

from ..context import lab_state
from ..protocol import printable
from ..runtime.devices import DeviceRow
from ..runtime.disposal import DisposeOutcome
from ..runtime.lifecycle_log import session_id_hash
from ..runtime.operator import OperatorService
from ..runtime.overview import format_age, worker_label
from ..runtime.store_errors import ANY_STORE_ERROR
from ..states import SessionState
from . import admin_devices, records
from .devices import admin_credentials_given
from .errors import ADMIN_BLUEPRINT, add_rlms_error_handlers, json_error
from .health import admin_health
from .metrics import LabCollector, metrics_view
from .rlms_api import limit_body

if TYPE_CHECKING:
    from ..app_state import LabState

logger = logging.getLogger("weblab_ext")

#: Seconds an action token of the admin page stays valid.
TOKEN_SECONDS = 900
#: Seconds between two refreshes of the admin page.
REFRESH_SECONDS = 5
#: Most sessions, tasks and workers the page lists.
ROWS = 100
_ACTION_SALT = "weblab-admin-action"
_KEY = re.compile(r"[0-9a-f]{16}")
_NOT_FOUND = "No RLMS endpoint at this path"
#: What a finished action says on the page it redirects to.
_DONE = {
    "ended": "Session {what} ended.",
    "ending": "Session {what} is ending: its on_dispose is still running.",
    "stopped": "Task {what} was asked to stop.",
    "gone": "Nothing to do: it had ended already.",
    **admin_devices.DONE,
}
#: Import names that say nothing about the lab: the admin page names it after its folder.
_GENERIC_NAMES = frozenset({"app", "application", "main", "server", "wsgi", "asgi", "__main__"})
_PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _require_admin() -> Response | None:
    settings = lab_state().settings
    if not settings.admin_username or not settings.admin_password:
        return json_error(404, "not-found", _NOT_FOUND)
    if admin_credentials_given(settings):
        return None
    if request.authorization is not None:
        # Never what was sent: it may be the password itself, or a near miss of it.
        logger.warning("Refused an admin request to %s: wrong credentials", request.path)
    response = json_error(401, "unauthorized", "The lab's admin credentials are needed here")
    response.headers["WWW-Authenticate"] = 'Basic realm="weblab_ext admin", charset="UTF-8"'
    return response


# -- action tokens ---------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    settings = lab_state().settings
    app_key = current_app.secret_key or b""
    parts = [
        app_key if isinstance(app_key, bytes) else str(app_key).encode(),
        (settings.admin_username or "").encode(),
        (settings.admin_password or "").encode(),
    ]
    return URLSafeTimedSerializer(b"\0".join(parts), salt=_ACTION_SALT)


def action_token() -> str:
    """A token for the admin page's forms, valid for :data:`TOKEN_SECONDS`."""
    return str(_serializer().dumps("admin"))


def _token_valid(token: str) -> bool:
    try:
        return bool(_serializer().loads(token, max_age=TOKEN_SECONDS) == "admin")
    except BadData:
        return False


def _same_origin() -> bool:
    """Whether the browser says the form came from this lab's own host.

    The host is compared, not the scheme: behind a proxy that terminates HTTPS the lab sees
    ``http`` while the browser says ``https``.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return bool(source) and urlsplit(source).netloc.lower() == request.host.lower()


def _forged() -> Response | None:
    if _same_origin() and _token_valid(request.form.get("token", "")):
        return None
    logger.warning(
        "Refused an admin action (%s): no valid token from the lab's own page", request.path
    )
    return json_error(
        403,
        "forbidden",
        "This form is out of date or was not sent by the "
        "lab's admin page: reload the admin page and try again.",
    )


# -- views ------------------------------------------------------------------------------------


def lab_title(app: Flask) -> str:
    """The lab's name on the admin page: ``LAB_NAME``, else the last part of the app's import
    name, else (when that is a generic ``app``, ``wsgi``...) the folder of the app's code."""
    configured = app.config.get("LAB_NAME")
    if configured:
        return str(configured)
    name = app.import_name.rpartition(".")[2]
    if name in _GENERIC_NAMES:
        name = os.path.basename(os.path.normpath(app.root_path)) or name
    return name


def _page(html: str) -> Response:
    response = Response(html, mimetype="text/html")
    response.headers.update(
        {
            "Content-Security-Policy": _PAGE_POLICY,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
        }
    )
    return response


def _admin_page() -> ResponseReturnValue:
    state = lab_state()
    done = _DONE.get(request.args.get("done", ""), "")
    what = request.args.get("what", "")
    message = done.format(what=what if re.fullmatch(r"[0-9a-f]{1,16}", what) else "")
    devices: list[DeviceRow] = []
    try:
        overview, problem = state.operator.overview(ROWS), ""
        devices = state.devices.overview() if state.devices else []  # WEBLAB_DEVICES
    except ANY_STORE_ERROR as error:
        overview, problem = (
            None,
            f"The store at {state.store_label} does not answer ({type(error).__name__}).",
        )
    reading = LabCollector(state).read() if overview is not None else None
    numbers, lab_maintenance = (
        admin_devices.device_numbers(reading) if overview is not None else ([], "")
    )
    health, health_age = admin_health(state, request.environ)
    html = render_template(
        "weblab_ext_admin.html",
        overview=overview,
        devices=devices,
        numbers=numbers,
        lab_maintenance=lab_maintenance,
        reading=reading,
        problem=problem,
        health=health,
        health_age=health_age,
        message=message,
        token=action_token(),
        refresh=REFRESH_SECONDS,
        age=format_age,
        worker_label=worker_label,
        printable=printable,
        lab_name=lab_title(current_app),
        store=state.store_label,
    )
    return _page(html)


def _back(done: str, what: str = "") -> ResponseReturnValue:
    return redirect(url_for(".admin_page", done=done, what=what or None), 303)


def _act(
    field: str,
    find: Callable[[OperatorService, str], str | None],
    act: Callable[[LabState, str], str],
) -> ResponseReturnValue:
    """Run an action of the page on the id whose hash the form's ``field`` names, then go
    back to the page saying what happened (``act`` returns a key of :data:`_DONE`)."""
    refused = _forged()
    if refused is not None:
        return refused
    state = lab_state()
    key = request.form.get(field, "")
    found = find(state.operator, key) if _KEY.fullmatch(key) else None
    if found is None:
        return _back("gone")
    done = act(state, found)
    return _back(done, key[:10] if done != "gone" else "")


def _dispose(state: LabState, session_id: str) -> str:
    logger.info("Session %s ended from the admin page", session_id_hash(session_id))
    outcome = state.operator.end_session(
        session_id, wait=state.settings.dispose_wait, caller="admin"
    )
    if outcome is DisposeOutcome.NOT_FOUND:
        return "gone"
    return "ending" if outcome is DisposeOutcome.PENDING else "ended"


def _stop(state: LabState, task_id: str) -> str:
    logger.info("Task %s asked to stop from the admin page", session_id_hash(task_id))
    state.operator.stop_task(task_id)
    return "stopped"


def _end_session() -> ResponseReturnValue:
    if request.form.get("confirm") != "yes":
        return _confirm_end()
    return _act("session", OperatorService.find_session, _dispose)


def _confirm_end() -> ResponseReturnValue:
    """The page that asks before a session ends (its form repeats the action, confirmed)."""
    refused = _forged()
    if refused is not None:
        return refused
    state = lab_state()
    key = request.form.get("session", "")
    found = state.operator.find_session(key) if _KEY.fullmatch(key) else None
    record = state.service.load(found) if found is not None else None
    if record is None or record.state in (SessionState.DISPOSING, SessionState.DISPOSED):
        return _back("gone")
    html = render_template(
        "weblab_ext_admin_confirm.html",
        key=key,
        label=key[:10],
        username=record.username,
        state=record.state,
        time_left=format_age(max(0.0, record.max_date - state.clock())),
        token=action_token(),
        lab_name=lab_title(current_app),
    )
    return _page(html)


def _stop_task() -> ResponseReturnValue:
    return _act("task", OperatorService.find_task, _stop)


def _render(template: str, **context: Any) -> Response:
    """One of the page's templates, titled with the lab's name, with the page's headers."""
    return _page(render_template(template, lab_name=lab_title(current_app), **context))


def _unknown(rest: str = "") -> Response:
    return json_error(404, "not-found", _NOT_FOUND)


def _wrong_method(allowed: str) -> Response:
    response = json_error(
        405, "method-not-allowed", f"{request.method} is not allowed here; use {allowed}"
    )
    response.headers["Allow"] = allowed
    return response


_EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: rule, endpoint, view, method: every other method gets a JSON 405.
_ROUTES = (
    ("/metrics", "metrics", metrics_view, "GET"),
    ("/admin/", "admin_page", _admin_page, "GET"),
    ("/admin/sessions/end", "end_session", _end_session, "POST"),
    ("/admin/tasks/stop", "stop_task", _stop_task, "POST"),
    ("/admin/records/", "records_page", functools.partial(records.records_page, _render), "GET"),
    (
        "/admin/records/<key>",
        "session_timeline",
        functools.partial(records.session_timeline, _render),
        "GET",
    ),
    (
        "/admin/devices/reset",
        "reset_device",
        functools.partial(admin_devices.reset_device, _forged, admin_devices.back_to_page),
        "POST",
    ),
    (
        "/admin/devices/maintenance",
        "device_maintenance",
        functools.partial(admin_devices.set_maintenance, _forged, admin_devices.back_to_page),
        "POST",
    ),
)


def create_admin_blueprint(url_prefix: str) -> Blueprint:
    """The metrics and the admin page, under ``url_prefix`` (``<base>/weblab``).

    A blueprint of its own: the RLMS blueprint's Basic-auth hook (RLMS credentials) never
    runs for it, and its own catch-all under ``/admin/`` (and 405 rules) keep its paths away
    from the RLMS catch-all.
    """
    blueprint = Blueprint(
        ADMIN_BLUEPRINT,
        "weblab_ext",
        url_prefix=url_prefix,
        template_folder="templates",
        static_folder="static",
        static_url_path="/admin/static",
    )
    blueprint.before_request(_require_admin)
    blueprint.before_request(limit_body)  # its forms are small; nothing bigger is read
    add_rlms_error_handlers(blueprint)
    for rule, endpoint, view, method in _ROUTES:
        others = [other for other in _EVERY_METHOD if other not in (method, "HEAD")]
        blueprint.add_url_rule(
            rule, endpoint, view, methods=[method], provide_automatic_options=False
        )
        blueprint.add_url_rule(
            rule,
            f"{endpoint}_405",
            functools.partial(_wrong_method, method),
            methods=others,
            provide_automatic_options=False,
        )
    blueprint.add_url_rule(
        "/admin/<weblab_any_path:rest>",
        "unknown",
        _unknown,
        methods=list(_EVERY_METHOD),
        provide_automatic_options=False,
    )
    return blueprint
