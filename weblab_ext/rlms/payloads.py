"""Start-request bodies exactly as each RLMS builds them (pure functions, no I/O).

The value formats are the point of this module:
WebLab-Deusto runs on Python 2 and sends numbers as ``'%s' % value`` strings and dates as
``str(datetime)``; LabDiscoveryEngine sends numbers and ISO-8601 dates with an offset.

.. code-block:: python

    from weblab_ext.rlms import PROFILES, StartParams, build_start_body

    body = build_start_body(PROFILES["weblabdeusto"], StartParams(username="john", start=0.0))
    body["server_initial_data"]["priority.queue.slot.length"]   # '300'
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .profiles import RLMSProfile


def _new_reservation_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class StartParams:
    """What an RLMS knows when it starts a lab session; the profile decides how it is sent.

    :param username: the login (``request.username``).
    :param start: slot start, seconds since the epoch.
    :param full_name: real name; WebLab-Deusto ignores it and sends the login instead.
    :param username_unique: unique name; defaults to ``username``.
    :param locale: browser locale (may be ``None`` or ``""`` with WebLab-Deusto).
    :param experiment_name: laboratory name.
    :param category_name: laboratory category.
    :param slot_length: slot length in seconds (an ``int`` is sent as ``"300"``, a ``float``
        as ``"300.0"`` by WebLab-Deusto).
    :param back: URL to send the user back to; ``None`` sends none.
    :param client_data: what the browser sent when reserving.
    :param server_extra: extra server keys, merged last (flat dialects) or sent as
        ``request.server`` (``ldl``).
    :param reservation_id: the RLMS's reservation id; a random UUID by default.
    :param initialization_in_accounting: WebLab-Deusto's flag of the same name.
    """

    username: str
    start: float
    full_name: str | None = None
    username_unique: str | None = None
    locale: str | None = "en"
    experiment_name: str = "mylab"
    category_name: str = "Lab experiments"
    slot_length: float = 300
    back: str | None = "http://localhost/back"
    client_data: Mapping[str, Any] | None = None
    server_extra: Mapping[str, Any] | None = None
    reservation_id: str = field(default_factory=_new_reservation_id)
    initialization_in_accounting: bool = False


def py2_str(value: Any) -> str:
    """Return ``'%s' % value`` as Python 2.7 computed it.

    Python 2's ``str(float)`` keeps 12 significant digits and always shows a fraction
    (``200.0``, ``1493901234.57``); ints and strings print as in Python 3.

    :param value: what WebLab-Deusto interpolated.
    """
    if isinstance(value, float):
        text = format(value, ".12g")
        if text.lstrip("-").isdigit():
            text += ".0"
        return text
    return str(value)


def wld_local_time(epoch: float) -> str:
    """``'%s' % datetime.fromtimestamp(epoch)``: naive local time, no fraction when µs == 0.

    :param epoch: seconds since the epoch.
    """
    return str(datetime.fromtimestamp(epoch))


def wld_utc_time(epoch: float) -> str:
    """Same format as :func:`wld_local_time`, in UTC (``utcfromtimestamp``).

    :param epoch: seconds since the epoch.
    """
    return str(datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None))


def wld_timestamp(epoch: float) -> str:
    """The ``.start.timestamp`` string: ``'%.12g'``, i.e. 10 ms resolution for current dates.

    :param epoch: seconds since the epoch.
    """
    return format(epoch, ".12g")


def wld_timezone() -> str:
    """The ``.start.timezone`` string: seconds west of UTC (``time.timezone or altzone``)."""
    return str(time.timezone or time.altzone)


def iso_utc(epoch: float) -> str:
    """ISO-8601 in UTC with its offset, as LabDiscoveryEngine sends (``…+00:00``).

    :param epoch: seconds since the epoch.
    """
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _client_data(request: StartParams, back_keys: tuple[str, ...]) -> dict[str, Any]:
    data = dict(request.client_data or {})
    if request.back is not None:
        for key in back_keys:
            data.setdefault(key, request.back)
    return data


def _wld_server_data(profile: RLMSProfile, request: StartParams) -> dict[str, Any]:
    prefix = "priority.queue.slot."
    data: dict[str, Any] = {
        prefix + "length": py2_str(request.slot_length),
        prefix + "start": wld_local_time(request.start),
        prefix + "initialization_in_accounting": request.initialization_in_accounting,
        "request.experiment_id.experiment_name": request.experiment_name,
        "request.experiment_id.category_name": request.category_name,
        "request.username": request.username,
        "request.username.unique": request.username_unique or request.username,
        # WebLab-Deusto puts the login here ("TODO: add the username and user full name")
        "request.full_name": request.username,
        "request.locale": request.locale,
    }
    if profile.modern_keys:
        data[prefix + "start.utc"] = wld_utc_time(request.start)
        data[prefix + "start.timestamp"] = wld_timestamp(request.start)
        data[prefix + "start.timezone"] = wld_timezone()
        data["weblab_reservation_id"] = request.reservation_id
    return data


def _lde_server_data(request: StartParams) -> dict[str, Any]:
    prefix = "priority.queue.slot."
    return {
        prefix + "length": request.slot_length,
        prefix + "start": iso_utc(request.start),
        prefix + "start.utc": iso_utc(request.start),
        prefix + "start.timestamp": float(request.start),
        prefix + "initialization_in_accounting": request.initialization_in_accounting,
        "request.experiment_id.experiment_name": request.experiment_name,
        "request.experiment_id.category_name": request.category_name,
        "request.username": request.username,
        "request.username.unique": request.username_unique or request.username,
        "request.full_name": request.full_name or request.username,
        "request.locale": request.locale,
        "reservation_id": request.reservation_id,
    }


def _flat_body(profile: RLMSProfile, request: StartParams, *, as_strings: bool) -> dict[str, Any]:
    if profile.dialect == "weblabdeusto":
        client = _client_data(request, ("back",))
        server = _wld_server_data(profile, request)
    else:
        client = _client_data(request, ("back", "back_url", "backUrl"))
        server = _lde_server_data(request)
    server.update(request.server_extra or {})
    body: dict[str, Any] = {"back": client.get("back") or ""}
    if as_strings:
        body["client_initial_data"] = json.dumps(client)
        body["server_initial_data"] = json.dumps(server)
    else:
        body["client_initial_data"] = client
        body["server_initial_data"] = server
    return body


def _ldl_body(request: StartParams) -> dict[str, Any]:
    return {
        "request": {
            "locale": request.locale,
            "user": dict(request.client_data or {}),
            "server": dict(request.server_extra or {}),
            "backUrl": request.back,
            "ldeReservationId": request.reservation_id,
        },
        "laboratory": {"name": request.experiment_name, "category": request.category_name},
        "user": {
            "username": request.username,
            "unique": request.username_unique or request.username,
            "fullName": request.full_name or request.username,
        },
        "schedule": {"start": iso_utc(request.start), "length": request.slot_length},
    }


def build_start_body(
    profile: RLMSProfile, request: StartParams, *, as_strings: bool | None = None
) -> dict[str, Any]:
    """Return the JSON body ``POST <prefix>/sessions/`` carries for ``profile``.

    :param profile: the RLMS profile.
    :param request: what to start.
    :param as_strings: send the initial data as JSON strings; ``None`` follows
        ``profile.initial_data_as_strings`` (WebLab-Deusto also does it when ``/api`` says "0").
    """
    if profile.dialect == "ldl":
        return _ldl_body(request)
    if as_strings is None:
        as_strings = profile.initial_data_as_strings
    return _flat_body(profile, request, as_strings=as_strings)


__all__ = [
    "StartParams",
    "build_start_body",
    "iso_utc",
    "py2_str",
    "wld_local_time",
    "wld_timestamp",
    "wld_timezone",
    "wld_utc_time",
]
