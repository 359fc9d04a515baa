"""``WEBLAB_DEVICES``: validated names, unset means no devices (weblablib's behaviour)."""

from __future__ import annotations

from typing import Any

import pytest

from weblab_ext import InvalidConfigError
from weblab_ext.config import load_settings

MINIMAL = {"WEBLAB_USERNAME": "user", "WEBLAB_PASSWORD": "secret"}


@pytest.mark.parametrize("value", [None, [], (), ""])
def test_unset_or_empty_means_no_devices(value: Any) -> None:
    assert load_settings({**MINIMAL, "WEBLAB_DEVICES": value}).devices == ()
    assert load_settings(MINIMAL).devices == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["board-1", "board-2"], ("board-1", "board-2")),
        (("a",), ("a",)),
        ("board-1, board-2,board-3", ("board-1", "board-2", "board-3")),
        (["Rig_7.v2~x"], ("Rig_7.v2~x",)),
    ],
)
def test_valid_names_keep_their_order(value: Any, expected: tuple[str, ...]) -> None:
    assert load_settings({**MINIMAL, "WEBLAB_DEVICES": value}).devices == expected


@pytest.mark.parametrize(
    "value",
    [
        ["board 1"],
        ["board/1"],
        [".."],
        ["-x"],
        ["x" * 65],
        [""],
        ["é"],
        [1],
        ["a", "a"],
        {"a": 1},
        5,
    ],
)
def test_invalid_names_name_the_key(value: Any) -> None:
    with pytest.raises(InvalidConfigError, match="WEBLAB_DEVICES"):
        load_settings({**MINIMAL, "WEBLAB_DEVICES": value})


def test_duplicate_names_are_named() -> None:
    with pytest.raises(InvalidConfigError, match=r"unique.*'b'"):
        load_settings({**MINIMAL, "WEBLAB_DEVICES": ["a", "b", "b"]})
