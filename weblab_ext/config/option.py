"""One ``WEBLAB_*`` key as the option table (:mod:`.options`) declares it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .parsers import PARSER_TYPES


@dataclasses.dataclass(frozen=True)
class Option:
    """One configuration key: the documentation site's reference is generated from these."""

    key: str
    default: Any
    parse: Callable[[str, Any], Any]
    #: One or more full sentences: what the key does, in the words a lab author uses.
    doc: str
    #: The accepted values, for humans ("seconds (>= 1)"); derived from ``parse`` if empty.
    type: str = ""
    #: ``init_app`` refuses a config without this key.
    required: bool = False

    @property
    def type_name(self) -> str:
        """The accepted values, for the configuration reference."""
        if self.type:
            return self.type
        if self.parse in PARSER_TYPES:
            return PARSER_TYPES[self.parse]
        if isinstance(self.default, bool):
            return "boolean"
        if isinstance(self.default, int | float):
            return "number"
        return "string"


def as_given(key: str, value: Any) -> Any:
    """The value as the app's config holds it (keys that need no validation)."""
    return value
