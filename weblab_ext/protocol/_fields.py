"""Small validators shared by the start-request parsers; every failure names its field."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from weblab_ext.protocol.errors import ProtocolError

#: Longest excerpt of an offending value quoted back in an error message.
_MAX_SHOWN = 60
#: Deepest nesting of objects and arrays accepted in initial data. RLMSs send a few levels;
#: a value nested hundreds deep would exhaust Python's recursion limit when it is copied,
#: stored or handed to lab code.
MAX_DEPTH = 100
#: C0 controls, DEL and C1 controls: a CR/LF in a Location header breaks the response, and
#: browsers drop tabs and newlines inside URLs ("java\tscript:" is "javascript:").
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
#: What a back URL must be, as error messages say it.
BACK_URL_RULE = "empty or an absolute http(s) URL without control characters"


def describe(value: object) -> str:
    """Describe a decoded JSON value for an error message (``"the number 5"``, ``"null"``).

    :param value: the offending value.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return f"the string {shown!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return f"a {type(value).__name__}"


def missing(field: str, where: str = "", hint: str = "") -> ProtocolError:
    """Build the ``missing-field`` error for *field*.

    :param field: dotted field name.
    :param where: suffix locating the field, e.g. ``" in server_initial_data"``.
    :param hint: extra sentence appended to the message.
    """
    return ProtocolError("missing-field", f"Field '{field}' is required{where}{hint}", field=field)


def invalid(field: str, expected: str, value: object, where: str = "") -> ProtocolError:
    """Build the ``invalid-field`` error for *field*.

    :param field: dotted field name.
    :param expected: what the field must be, e.g. ``"a non-empty string"``.
    :param value: what was received.
    :param where: suffix locating the field.
    """
    return ProtocolError(
        "invalid-field",
        f"Field '{field}'{where} must be {expected}, got {describe(value)}",
        field=field,
    )


def optional_str(value: object, field: str, where: str = "") -> str | None:
    """Return *value* if it is a string, ``None`` if it is absent/null, else raise.

    :param value: the raw value (``None`` when the key is absent).
    :param field: dotted field name for errors.
    :param where: suffix locating the field.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(field, "a string", value, where)
    return value


def required_str(value: object, field: str, where: str = "", *, allow_empty: bool = False) -> str:
    """Return *value* if it is a (non-empty, unless allowed) string, else raise.

    :param value: the raw value (``None`` when the key is absent).
    :param field: dotted field name for errors.
    :param where: suffix locating the field.
    :param allow_empty: accept ``""``.
    """
    if value is None:
        raise missing(field, where)
    text = optional_str(value, field, where)
    if not text and not allow_empty:
        raise invalid(field, "a non-empty string", value, where)
    return text or ""


def json_object(value: object, field: str, *, allow_string: bool) -> dict[str, Any]:
    """Return *value* as a dict; a JSON string encoding an object is decoded when allowed.

    WebLab-Deusto sends the initial data as JSON-encoded strings when it speaks API "0" or
    the form request format, and as objects otherwise; both mean the same thing.

    :param value: the raw value (``None`` when the key is absent).
    :param field: dotted field name for errors.
    :param allow_string: decode strings holding a JSON object.
    """
    if value is None:
        raise missing(field)
    if isinstance(value, str) and allow_string:
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            raise invalid(field, "a JSON object or a string holding one", value) from None
        if not isinstance(decoded, dict):
            raise invalid(field, "a JSON object or a string holding one", value)
        return decoded
    if not isinstance(value, dict):
        expected = "a JSON object or a string holding one" if allow_string else "a JSON object"
        raise invalid(field, expected, value)
    return value


def check_depth(value: object, field: str, *, keys: int = 1, limit: int = MAX_DEPTH) -> None:
    """Refuse a value whose objects and arrays nest more than ``limit`` levels deep.

    Walks the value without recursion, so any depth the JSON decoder produced is measured.

    :param value: a decoded JSON value.
    :param field: its dotted name (``""`` for the whole body).
    :param keys: how many object keys below ``field`` the error's field name goes down.
    :raises ProtocolError: ``invalid-field`` naming the field that holds the deep part.
    """
    stack: list[tuple[object, int, str, int]] = [(value, 0, field, keys)]
    while stack:
        node, depth, name, budget = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth >= limit:
            raise ProtocolError(
                "invalid-field",
                f"Field '{name}' nests objects or arrays more than {limit} levels deep",
                field=name,
            )
        if isinstance(node, list):
            stack.extend((child, depth + 1, name, budget) for child in node)
            continue
        for key, child in node.items():
            if budget > 0:
                stack.append((child, depth + 1, f"{name}.{key}" if name else str(key), budget - 1))
            else:
                stack.append((child, depth + 1, name, 0))


def is_safe_back_url(url: object) -> bool:
    """Whether ``url`` may be given to a browser as the place to go back to.

    Only ``""`` (no back URL) or an absolute ``http``/``https`` URL with a host, without
    control characters or surrounding spaces: never ``javascript:``, ``data:``, a relative
    or a scheme-relative (``//host``) URL.

    :param url: the candidate (any type: only strings can pass).
    """
    if not isinstance(url, str):
        return False
    if url == "":
        return True
    if url != url.strip() or _CONTROL_CHARACTERS.search(url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def back_url(value: object, field: str) -> str:
    """Return *value* if it is a string that :func:`is_safe_back_url` accepts, else raise.

    :param value: the raw value (a string; callers handle absent values).
    :param field: dotted field name for errors.
    """
    text = optional_str(value, field) or ""
    if not is_safe_back_url(text):
        raise invalid(field, BACK_URL_RULE, value)
    return text
