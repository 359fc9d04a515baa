"""The error raised when an RLMS request cannot be understood."""

from __future__ import annotations

from typing import Any

from weblab_ext.errors import WebLabError


class ProtocolError(WebLabError):
    """A request from the RLMS is malformed.

    The views turn it into a JSON reply with :meth:`to_json` and HTTP status :attr:`status`.

    :param code: machine-readable reason: ``invalid-json``, ``invalid-body`` (not an object),
        ``missing-field``, ``invalid-field`` (or ``missing-parameters`` for bulk status).
    :param message: a sentence for the RLMS administrator naming the field and what was expected.
    :param field: the offending field in dotted form (``"schedule.start"``), when there is one.
    :param status: the HTTP status the reply should carry.
    """

    def __init__(
        self, code: str, message: str, field: str | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status

    def to_json(self) -> dict[str, Any]:
        """Return the JSON reply body: ``{"error": true, "code", "message"}`` plus ``field``."""
        reply: dict[str, Any] = {"error": True, "code": self.code, "message": self.message}
        if self.field is not None:
            reply["field"] = self.field
        return reply


__all__ = ["ProtocolError"]
