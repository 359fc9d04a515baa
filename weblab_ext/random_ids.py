"""Random identifiers for sessions and tasks."""

from __future__ import annotations

import base64
import secrets

#: Bytes of randomness in a default token: 32 bytes give 43 URL-safe characters.
DEFAULT_TOKEN_BYTES = 32
#: Length of a default token; task names of this length are refused so names and ids differ.
TOKEN_LENGTH = 43


def create_token(size: int | None = None) -> str:
    """Return a URL-safe random token made of ``[A-Za-z0-9_]``.

    :param size: bytes of randomness (default 32, giving 43 characters).
    """
    raw = secrets.token_bytes(size or DEFAULT_TOKEN_BYTES)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=").replace("-", "_")
