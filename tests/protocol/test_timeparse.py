"""Tests of weblab_ext.protocol.timeparse: every duration and start format real RLMSs send."""

from __future__ import annotations

import datetime

import pytest

from weblab_ext.protocol import ProtocolError, parse_epoch, parse_seconds, parse_start_time

UTC = datetime.timezone.utc
PLUS2 = datetime.timezone(datetime.timedelta(hours=2))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


# 2017-05-04 10:00:00 at +02:00
LOCAL_10 = utc(2017, 5, 4, 8, 0, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("200", 200.0),  # WLD: '%s' % int
        ("200.0", 200.0),  # WLD: '%s' % float
        (" 200.5 ", 200.5),
        (200, 200.0),  # LDE: a number
        (200.5, 200.5),
        (0, 0.0),
        ("1e2", 100.0),
    ],
)
def test_parse_seconds_accepts(value: object, expected: float) -> None:
    assert parse_seconds(value, "len") == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        -1,
        "-1",
        float("nan"),
        float("inf"),
        "nan",
        "inf",
        "1e999",
        "abc",
        "",
        "1_000",
        [200],
        {"s": 1},
        10**400,
    ],
)
def test_parse_seconds_rejects(value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_seconds(value, "priority.queue.slot.length")
    assert info.value.code == "invalid-field"
    assert info.value.field == "priority.queue.slot.length"
    assert "'priority.queue.slot.length'" in info.value.message
    assert "seconds" in info.value.message


def test_parse_seconds_none_is_missing() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_seconds(None, "schedule.length")
    assert (info.value.code, info.value.field) == ("missing-field", "schedule.length")


def test_parse_epoch() -> None:
    assert parse_epoch("1493901234.57", "ts") == pytest.approx(1493901234.57)
    with pytest.raises(ProtocolError):
        parse_epoch("2017-05-04 10:00:00", "ts")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # WLD since 2019: Py2 str(float), 12 significant digits
        ("1493901234.57", 1493901234.57),
        ("1493901234", 1493901234.0),
        # LDE: float timestamp
        (1701904438.076302, 1701904438.076302),
        (1493901234, 1493901234.0),
        # WLD before 2019: local time, fraction omitted when zero
        ("2017-05-04 10:00:00", LOCAL_10),
        ("2017-05-04 10:00:00.123456", LOCAL_10 + 0.123456),
        # the fraction is a decimal fraction of a second, not a count of microseconds
        ("2017-05-04 10:00:00.5", LOCAL_10 + 0.5),
        ("2017-05-04 10:00:00.123456789", LOCAL_10 + 0.123456789),
        # naive ISO "T" form is local time too
        ("2017-05-04T10:00:00", LOCAL_10),
        ("2017-05-04T10:00", LOCAL_10),
        # LDE: ISO-8601 with offset
        ("2023-12-06T23:13:58.076302+00:00", utc(2023, 12, 6, 23, 13, 58) + 0.076302),
        ("2023-12-06T23:13:58Z", utc(2023, 12, 6, 23, 13, 58)),
        ("2023-12-06t23:13:58z", utc(2023, 12, 6, 23, 13, 58)),
        ("2023-12-06T23:13:58-05:30", utc(2023, 12, 7, 4, 43, 58)),
        ("2023-12-06T23:13:58+0100", utc(2023, 12, 6, 22, 13, 58)),
        ("2023-12-06T23:13:58+01", utc(2023, 12, 6, 22, 13, 58)),
        # str() of an aware datetime (space separator)
        ("2023-12-06 23:13:58+00:00", utc(2023, 12, 6, 23, 13, 58)),
    ],
)
def test_parse_start_time_formats(value: object, expected: float) -> None:
    assert parse_start_time(value, "start", local_tz=PLUS2) == pytest.approx(expected, abs=1e-6)


def test_parse_start_time_default_local_tz_is_machine_local() -> None:
    naive = datetime.datetime(2017, 5, 4, 10, 0, 0)
    assert parse_start_time("2017-05-04 10:00:00", "start") == naive.timestamp()
    # an explicit offset wins over any local timezone
    assert parse_start_time("2017-05-04T10:00:00Z", "s", local_tz=PLUS2) == utc(2017, 5, 4, 10)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "2017-05-04",
        "2017-13-04 10:00:00",
        "2017-05-04 25:00:00",
        "2017-05-04 10:00:00+24:00",
        "2017-05-04 10:00:00 +02:00",
        "04/05/2017 10:00",
        "2017-05-04 10:00:00.",
        "nan",
        "-5",
        -5,
        float("inf"),
        True,
        [1],
        {"t": 1},
    ],
)
def test_parse_start_time_rejects(value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_start_time(value, "priority.queue.slot.start", local_tz=PLUS2)
    assert info.value.code == "invalid-field"
    assert info.value.field == "priority.queue.slot.start"
    assert "'priority.queue.slot.start'" in info.value.message


def test_parse_start_time_none_is_missing() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_start_time(None, "schedule.start")
    assert (info.value.code, info.value.field) == ("missing-field", "schedule.start")
