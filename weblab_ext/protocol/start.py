"""Decoding and validation of the start request, in both dialects.

* ``weblab`` (``POST /weblab/sessions/``): ``{"back", "client_initial_data",
  "server_initial_data"}`` with flat dotted keys in ``server_initial_data``
  (``"request.username"``, ``"priority.queue.slot.length"``...).
* ``ldl`` (``POST /ldl/sessions/``): nested ``request``/``laboratory``/``user``/``schedule``
  objects, the schema of labdiscoverylib.

Both produce the same :class:`StartRequest`, so the rest of weblab_ext ignores the dialect.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from weblab_ext.protocol._fields import (
    back_url,
    check_depth,
    invalid,
    json_object,
    missing,
    optional_str,
    required_str,
)
from weblab_ext.protocol.errors import ProtocolError
from weblab_ext.protocol.timeparse import parse_epoch, parse_seconds, parse_start_time

_FORM_TYPE = "application/x-www-form-urlencoded"
_IN_SERVER = " in server_initial_data"
_START_KEY = "priority.queue.slot.start"
_TIMESTAMP_KEY = "priority.queue.slot.start.timestamp"
_LENGTH_KEY = "priority.queue.slot.length"


@dataclass(frozen=True)
class StartRequest:
    """A validated start request, whatever the dialect it came in."""

    dialect: str  #: ``"weblab"`` or ``"ldl"``.
    client_data: Any  #: passed to ``on_start`` as ``client_data``.
    server_data: Any  #: passed to ``on_start`` as ``server_data``.
    back: str  #: where to send the user when the session ends.
    start_date: float  #: epoch seconds.
    slot_length: float  #: seconds.
    username: str
    username_unique: str
    full_name: str
    locale: str | None
    experiment_name: str
    category_name: str | None
    experiment_id: str  #: ``name@category``, or ``name`` without a category.
    request_client_data: dict[str, Any]  #: stored for the user (a copy).
    request_server_data: dict[str, Any]  #: stored for the user (a copy, unknown keys kept).

    @property
    def max_date(self) -> float:
        """Epoch seconds at which the slot ends."""
        return self.start_date + self.slot_length


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _decode_json(raw: bytes) -> object:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("invalid-json", f"The request body is not valid JSON: {exc}") from None


def decode_body(raw: bytes, content_type: str | None) -> object:
    """Decode a request body as JSON whatever its Content-Type, or as a form when it is one.

    WebLab-Deusto's ``form`` request format sends ``application/x-www-form-urlencoded`` fields
    whose values are JSON strings; those become a ``dict`` of strings. A form-typed body that
    starts with ``{`` is still read as JSON, because ``curl -d '{...}'`` labels JSON that way.

    :param raw: the request body.
    :param content_type: the Content-Type header, if any.
    :raises ProtocolError: ``invalid-json`` for an empty or undecodable body.
    """
    if not raw.strip():
        raise ProtocolError("invalid-json", "The request body is empty; a JSON object is expected")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != _FORM_TYPE or raw.lstrip()[:1] in (b"{", b"["):
        return _decode_json(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("invalid-body", "The form-encoded body is not UTF-8") from None
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))


def _require_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProtocolError("invalid-body", "The request body must be a JSON object")
    return body


def _weblab_back(body: dict[str, Any], client: dict[str, Any]) -> str:
    top = optional_str(body.get("back"), "back")
    if top:
        return back_url(top, "back")
    # Older WLD versions and other callers may only put it in the client data.
    from_client = optional_str(client.get("back"), "client_initial_data.back")
    if from_client:
        return back_url(from_client, "client_initial_data.back")
    if top is not None:
        return top  # WLD sends "" when the client gave no back URL; weblablib accepted it.
    raise missing("back", hint=" (at top level or in client_initial_data)")


def _weblab_start(server: dict[str, Any], local_tz: datetime.tzinfo | None) -> float:
    timestamp = server.get(_TIMESTAMP_KEY)
    if timestamp:
        return parse_epoch(timestamp, _TIMESTAMP_KEY)
    start = server.get(_START_KEY)
    if start is None:
        raise missing(_START_KEY, _IN_SERVER, f" (or '{_TIMESTAMP_KEY}')")
    return parse_start_time(start, _START_KEY, local_tz=local_tz)


def parse_weblab_start(body: object, *, local_tz: datetime.tzinfo | None = None) -> StartRequest:
    """Validate a ``weblab``-dialect start request (WebLab-Deusto, LDE with weblablib labs).

    .. code-block:: python

        start = parse_weblab_start(decode_body(request.get_data(), request.content_type))

    :param body: the decoded body (see :func:`decode_body`).
    :param local_tz: timezone of a naive ``priority.queue.slot.start``; ``None`` = machine's.
    :raises ProtocolError: naming the first field that is missing or malformed.
    """
    data = _require_object(body)
    client = json_object(data.get("client_initial_data"), "client_initial_data", allow_string=True)
    server = json_object(data.get("server_initial_data"), "server_initial_data", allow_string=True)
    check_depth(client, "client_initial_data")
    check_depth(server, "server_initial_data")
    back = _weblab_back(data, client)
    start_date = _weblab_start(server, local_tz)
    length = server.get(_LENGTH_KEY)
    if length is None:
        raise missing(_LENGTH_KEY, _IN_SERVER)
    slot_length = parse_seconds(length, _LENGTH_KEY)

    username = required_str(server.get("request.username"), "request.username", _IN_SERVER)
    # Pre-2017 WLD sends no unique name, and WLD always sends the login as the full name.
    unique = (
        optional_str(server.get("request.username.unique"), "request.username.unique", _IN_SERVER)
        or username
    )
    full_name = (
        optional_str(server.get("request.full_name"), "request.full_name", _IN_SERVER) or username
    )
    locale = optional_str(server.get("request.locale"), "request.locale", _IN_SERVER) or None
    name = required_str(
        server.get("request.experiment_id.experiment_name"),
        "request.experiment_id.experiment_name",
        _IN_SERVER,
    )
    category = (
        optional_str(
            server.get("request.experiment_id.category_name"),
            "request.experiment_id.category_name",
            _IN_SERVER,
        )
        or None
    )
    return StartRequest(
        dialect="weblab",
        client_data=client,
        server_data=server,
        back=back,
        start_date=start_date,
        slot_length=slot_length,
        username=username,
        username_unique=unique,
        full_name=full_name,
        locale=locale,
        experiment_name=name,
        category_name=category,
        experiment_id=f"{name}@{category}" if category else name,
        request_client_data=_json_copy(client),
        request_server_data=_json_copy(server),
    )


def _json_copy(value: Any) -> Any:
    """A deep copy of decoded JSON (what on_start may change stays out of the record).

    Several times faster than ``copy.deepcopy``: JSON holds no cycles nor custom objects.
    """
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def _section(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        raise missing(name)
    if not isinstance(value, dict):
        raise invalid(name, "a JSON object", value)
    return value


def _optional_object(value: object, field: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise invalid(field, "a JSON object or null", value)
    return value


def parse_ldl_start(body: object, *, local_tz: datetime.tzinfo | None = None) -> StartRequest:
    """Validate an ``ldl``-dialect start request (LabDiscoveryEngine with ldl labs).

    ``schedule.start`` without an offset is read as UTC, since the ldl dialect speaks UTC;
    *local_tz* is accepted for symmetry with :func:`parse_weblab_start` and not used.

    :param body: the decoded body (see :func:`decode_body`).
    :param local_tz: unused.
    :raises ProtocolError: naming (in dotted form) the first field missing or malformed.
    """
    data = _require_object(body)
    check_depth(data, "", keys=2)  # the whole body is stored
    request = _section(data, "request")
    laboratory = _section(data, "laboratory")
    user = _section(data, "user")
    schedule = _section(data, "schedule")

    client = _optional_object(request.get("user"), "request.user")
    server = _optional_object(request.get("server"), "request.server")
    back = back_url(
        required_str(request.get("backUrl"), "request.backUrl", allow_empty=True),
        "request.backUrl",
    )
    locale = optional_str(request.get("locale"), "request.locale") or "en"
    name = required_str(laboratory.get("name"), "laboratory.name")
    category = optional_str(laboratory.get("category"), "laboratory.category") or None
    username = required_str(user.get("username"), "user.username")
    unique = optional_str(user.get("unique"), "user.unique") or username
    full_name = optional_str(user.get("fullName"), "user.fullName") or username
    start_date = parse_start_time(
        schedule.get("start"), "schedule.start", local_tz=datetime.timezone.utc
    )
    slot_length = parse_seconds(schedule.get("length"), "schedule.length")
    return StartRequest(
        dialect="ldl",
        client_data=client,
        server_data=server,
        back=back,
        start_date=start_date,
        slot_length=slot_length,
        username=username,
        username_unique=unique,
        full_name=full_name,
        locale=locale,
        experiment_name=name,
        category_name=category,
        experiment_id=f"{name}@{category}" if category else name,
        request_client_data=_json_copy(client) if client is not None else {},
        request_server_data=_json_copy(data),
    )


__all__ = ["StartRequest", "decode_body", "parse_ldl_start", "parse_weblab_start"]
