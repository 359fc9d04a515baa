"""The RLMS endpoints of each declared device (``WEBLAB_DEVICES``).

An RLMS registers ``{base_url}/devices/<name>`` as the lab URL of one device and appends its
usual paths: ``/weblab/sessions/...``, ``/ldl/sessions/...``, ``/weblab/health``. They are
the same views as the un-prefixed ones, registered once more under a prefix that carries the
device name; the views ask :func:`rlms_sessions` for the session operations of the device in
the URL. With two or more devices the un-prefixed paths answer 404 listing the device URLs
(a session there would hold no device); with one, they serve that device.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, g, request

from ..config import Settings
from ..context import lab_state
from ..protocol.replies import start_failed_reply
from .errors import DEVICE_BLUEPRINTS, RLMS_BLUEPRINTS, compact_json, json_error

if TYPE_CHECKING:
    from ..runtime.devices import DeviceBusyError, DeviceSessions
    from ..runtime.sessions import SessionService

#: The URL variable holding the device name (removed before the views are called).
DEVICE_ARG = "weblab_device"


def register_device_views(
    app: Flask, settings: Settings, create_blueprint: Callable[..., Blueprint]
) -> None:
    """Add ``{base_url}/devices/<name>/weblab`` and ``/ldl`` when devices are declared.

    :param create_blueprint: makes the RLMS blueprint of one dialect (see :mod:`.rlms_api`).
    """
    if not settings.devices:
        return
    base = settings.base_url.rstrip("/")
    for name, dialect in zip(DEVICE_BLUEPRINTS, ("weblab", "ldl"), strict=True):
        prefix = f"{base}/devices/<{DEVICE_ARG}>/{dialect}"
        blueprint = create_blueprint(name, prefix, dialect=dialect)
        blueprint.url_value_preprocessor(_take_device)
        blueprint.before_request(_refuse_unknown_device)
        app.register_blueprint(blueprint)
    if len(settings.devices) > 1:
        for name in RLMS_BLUEPRINTS:
            app.before_request_funcs.setdefault(name, []).append(_refuse_unprefixed)


def _take_device(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None:
        g._weblab_device = values.pop(DEVICE_ARG, None)


def device_urls() -> list[str]:
    """The lab URL of each device, as an RLMS registers it (``http://host{base}/devices/x``)."""
    state = lab_state()
    root = request.host_url.rstrip("/") + request.script_root
    base = state.settings.base_url.rstrip("/")
    return [f"{root}{base}/devices/{name}" for name in state.settings.devices]


def _refuse_unknown_device() -> Response | None:
    device = g.get("_weblab_device")
    if device in lab_state().devices:
        return None
    return json_error(
        404,
        "unknown-device",
        "No such device in this lab; register one of the device URLs as the lab URL",
        devices=device_urls(),
    )


def _refuse_unprefixed() -> Response | None:
    if (request.endpoint or "").endswith(DEVICES_ENDPOINT):
        return None  # the list of every device
    return json_error(
        404,
        "device-required",
        "This lab serves several devices: register each device URL as the lab URL of one "
        "resource of the RLMS, and call the RLMS paths under it",
        devices=device_urls(),
    )


def current_device() -> str | None:
    """The device of the RLMS call in progress; ``None`` in a lab without devices."""
    device: str | None = g.get("_weblab_device")
    if device is None:
        devices = lab_state().settings.devices
        # With one device the un-prefixed paths serve it (with more they were refused).
        return devices[0] if devices else None
    return device


def rlms_sessions() -> SessionService | DeviceSessions:
    """The session operations of the RLMS call in progress: the device's, or the lab's."""
    state = lab_state()
    device = current_device()
    return state.service if device is None else state.devices.on(device)


#: Most sessions the devices list names in a lab without devices.
RECONCILE_LIMIT = 10_000
#: Endpoint suffix of the reconciliation list (RLMS or admin credentials).
DEVICES_ENDPOINT = "._devices"


def admin_credentials_given(settings: Settings) -> bool:
    """Whether the request carries the lab's admin credentials (compared in constant time);
    false when the lab sets none. The admin page and the devices list both ask it."""
    if not settings.admin_username or not settings.admin_password:
        return False
    auth = request.authorization
    basic = auth is not None and auth.type == "basic"
    given_user = ((auth.username or "") if basic and auth else "").encode()
    given_password = ((auth.password or "") if basic and auth else "").encode()
    # Both comparisons always run, in constant time: timing tells nothing about which failed.
    user_ok = hmac.compare_digest(given_user, settings.admin_username.encode())
    password_ok = hmac.compare_digest(given_password, settings.admin_password.encode())
    return user_ok & password_ok


def devices_view() -> Response:
    """``GET {base_url}/weblab/devices``: every device, its state, the session holding it and
    whether its last clean-up finished; in a lab that declares none, each session not
    disposed yet (``name`` ``""``)."""
    state = lab_state()
    if state.devices:
        rows = state.devices.reconcile()
    else:
        rows = state.devices.session_rows(state.operator.undisposed_sessions(RECONCILE_LIMIT))
    response = compact_json({"devices": rows})
    response.headers["Cache-Control"] = "no-store"
    return response


def device_refused(error: DeviceBusyError, *, ldl: bool) -> Response:
    """A start refused on a device that is not idle: a failed start each RLMS recognises
    (``error`` for both, ``success: false`` for LabDiscoveryEngine's ldl client, and a non-2xx
    status for WebLab-Deusto, which reads neither)."""
    reply: dict[str, Any] = {**start_failed_reply(str(error)), "code": error.code}
    if ldl:
        reply["success"] = False
    return compact_json(reply, 409)
