"""Parsing of the durations and start times RLMSs send, in every format seen in the wild.

Clients and what they send for the slot start:

* WebLab-Deusto since 2019: ``priority.queue.slot.start.timestamp`` as a Python 2 float
  string (``"1493901234.57"``, 12 significant digits).
* WebLab-Deusto before 2019: only ``priority.queue.slot.start``, a *local* time
  ``"2017-05-04 10:00:00.123456"`` whose fraction is absent when it is zero.
* LabDiscoveryEngine: a float timestamp and ISO-8601 with an offset
  (``"2023-12-06T23:13:58.076302+00:00"``).
"""

from __future__ import annotations

import datetime
import math
import re

from weblab_ext.protocol._fields import invalid, missing

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# Seconds are optional (ISO allows "HH:MM"); the fraction may have any number of digits, which
# datetime.fromisoformat on Python 3.10 does not accept, hence a parser of our own.
_DATETIME_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[T ]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)

_SECONDS = "a non-negative number of seconds"
_EPOCH = "a non-negative epoch timestamp in seconds"
_START = (
    "an epoch timestamp or a date-time such as '2017-05-04 10:00:00[.ffffff]' "
    "or '2023-12-06T23:13:58+00:00'"
)


def _finite_number(value: object, field: str, expected: str) -> float:
    """Return a finite, non-negative float from a number or a numeric string, else raise."""
    if value is None:
        raise missing(field)
    result: float | None = None
    # bool is an int subclass, but True seconds is a client bug, not one second.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:
            result = None
    elif isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip()):
        result = float(value)
    if result is None or not math.isfinite(result) or result < 0:
        raise invalid(field, expected, value)
    return result


def parse_seconds(value: object, field: str) -> float:
    """Return a duration in seconds from a number or a numeric string (``"200"``, ``200.5``).

    :param value: the raw value; ``None`` means the field is absent.
    :param field: field name used in the :class:`~weblab_ext.protocol.ProtocolError`.
    :raises ProtocolError: ``missing-field`` for ``None``; ``invalid-field`` for booleans,
        negatives, NaN/infinity and anything that is not a number.
    """
    return _finite_number(value, field, _SECONDS)


def parse_epoch(value: object, field: str) -> float:
    """Return epoch seconds from a number or a numeric string (``"1493901234.57"``).

    :param value: the raw value; ``None`` means the field is absent.
    :param field: field name used in the :class:`~weblab_ext.protocol.ProtocolError`.
    :raises ProtocolError: as :func:`parse_seconds`.
    """
    return _finite_number(value, field, _EPOCH)


def _offset(text: str, field: str, value: object) -> datetime.timezone:
    """Return the fixed-offset timezone for ``Z``, ``+HH``, ``+HHMM`` or ``+HH:MM``."""
    if text.upper() == "Z":
        return datetime.timezone.utc
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise invalid(field, _START, value)
    delta = datetime.timedelta(hours=hours, minutes=minutes)
    return datetime.timezone(-delta if text[0] == "-" else delta)


def _parse_datetime(
    text: str, value: object, field: str, local_tz: datetime.tzinfo | None
) -> float:
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        raise invalid(field, _START, value)
    parts = match.groupdict()
    tz = _offset(parts["tz"], field, value) if parts["tz"] else local_tz
    try:
        moment = datetime.datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"]),
            int(parts["minute"]),
            int(parts["second"] or 0),
            tzinfo=tz,
        )
        # A naive datetime's timestamp() interprets it in the machine's local timezone.
        seconds = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise invalid(field, _START, value) from None
    # The fraction is a decimal fraction of a second (".5" is half a second); weblablib
    # added it as a number of microseconds, which we deliberately do not reproduce.
    fraction = float("0" + parts["fraction"]) if parts["fraction"] else 0.0
    return seconds + fraction


def parse_start_time(
    value: object, field: str, *, local_tz: datetime.tzinfo | None = None
) -> float:
    """Return the epoch seconds of a slot start in any format real RLMSs send.

    Accepted: numbers and numeric strings (epoch seconds); ``YYYY-MM-DD HH:MM[:SS[.f]]`` with
    a space or ``T``, optionally followed by ``Z`` or an offset (``+00:00``, ``+0000``,
    ``+00``). A value without an offset is a time in *local_tz*.

    .. code-block:: python

        parse_start_time("2017-05-04 10:00:00.5", "start", local_tz=datetime.timezone.utc)
        # 1493892000.5

    :param value: the raw value; ``None`` means the field is absent.
    :param field: field name used in the :class:`~weblab_ext.protocol.ProtocolError`.
    :param local_tz: timezone of naive values; ``None`` means the machine's local timezone.
    :raises ProtocolError: ``missing-field`` for ``None``, ``invalid-field`` otherwise.
    """
    if value is None:
        raise missing(field)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER_RE.fullmatch(text):
            return parse_epoch(text, field)
        return _parse_datetime(text, value, field, local_tz)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_epoch(value, field)
    raise invalid(field, _START, value)


__all__ = ["parse_epoch", "parse_seconds", "parse_start_time"]
