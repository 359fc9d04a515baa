"""RLMS protocol: parsing and validation of RLMS requests and building of replies.

Layering rule: this package is pure. It imports neither Flask nor Redis (only the standard
library and :mod:`weblab_ext.errors`); it turns bytes and decoded JSON into validated values
and back, and knows both dialects (``weblab`` for WebLab-Deusto, ``ldl`` for
LabDiscoveryEngine). The Flask views call it; the store never does.

* :mod:`.start` — parsing a start request (both dialects) into a ``StartRequest``;
* :mod:`.status` — ``should_finish``, status and dispose replies;
* :mod:`.replies` — the start reply and the launch URL;
* :mod:`.timeparse` — the dates and durations each RLMS sends;
* :mod:`.errors` — ``ProtocolError`` and its reply;
* :mod:`._fields` — the field readers the parsers share.
* :mod:`.printable` — what a student sent, made safe for terminals, logs and pages.
"""

from __future__ import annotations

from weblab_ext.protocol._fields import BACK_URL_RULE, is_safe_back_url
from weblab_ext.protocol.errors import ProtocolError
from weblab_ext.protocol.printable import printable
from weblab_ext.protocol.replies import (
    API_VERSION_REPLY,
    dispose_done_reply,
    dispose_not_found_reply,
    dispose_pending_reply,
    dispose_unknown_op_reply,
    parse_dispose_action,
    start_failed_reply,
    start_reply,
    test_reply,
)
from weblab_ext.protocol.start import (
    StartRequest,
    decode_body,
    parse_ldl_start,
    parse_weblab_start,
)
from weblab_ext.protocol.status import (
    DISPOSING_ASK_AGAIN,
    multiple_status_error_json,
    parse_multiple_status,
    session_over,
    should_finish,
    should_finish_many,
)
from weblab_ext.protocol.timeparse import parse_epoch, parse_seconds, parse_start_time

__all__ = [
    "API_VERSION_REPLY",
    "BACK_URL_RULE",
    "DISPOSING_ASK_AGAIN",
    "ProtocolError",
    "StartRequest",
    "decode_body",
    "dispose_done_reply",
    "dispose_not_found_reply",
    "dispose_pending_reply",
    "dispose_unknown_op_reply",
    "is_safe_back_url",
    "multiple_status_error_json",
    "parse_dispose_action",
    "parse_epoch",
    "parse_ldl_start",
    "parse_multiple_status",
    "parse_seconds",
    "parse_start_time",
    "parse_weblab_start",
    "printable",
    "session_over",
    "should_finish",
    "should_finish_many",
    "start_failed_reply",
    "start_reply",
    "test_reply",
]
