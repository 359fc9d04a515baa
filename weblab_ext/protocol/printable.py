"""Text that a student (or anyone on the network) controls, made safe to print.

User names, back URLs, paths and task errors reach an operator's terminal, the lab's log and
the admin page. A control character there is an instruction, not text: ``ESC ] 52`` writes the
terminal's clipboard (OSC 52), other sequences retitle the window or move the cursor, ``CR``
and ``LF`` forge lines and table rows, a bidirectional override reorders what follows.
:func:`printable` writes every such character as a Python escape instead.
"""

from __future__ import annotations

import contextlib
import logging


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``str(value)`` with every character Python calls unprintable written as an escape.

    C0 and C1 controls (``ESC``, ``CR``, ``LF``, ``DEL``, ``\\x9b``...) become ``\\x1b``-style
    escapes; Unicode format characters and separators (bidirectional overrides, zero-width
    joiners, ``U+2028``) and lone surrogates become ``\\u202e``-style ones. Printable text,
    accents and every script included, comes back unchanged, and so does the ASCII space.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


class PrintableLogRecords(logging.Filter):
    """Escapes the message and traceback of each record of the logger it is on, as
    :func:`printable` does, when they hold anything unprintable.

    Installed on the ``weblab_ext`` logger, so that no log line of the lab's (a refused path,
    a task's error, a lab exception's text) carries a control character, whatever the call
    site. A record with printable text is left as it was (its ``msg`` and ``args`` intact);
    the lines of a traceback stay lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # A malformed record (arguments that do not fit) is the handler's to report.
        with contextlib.suppress(Exception):
            message = record.getMessage()
            if not message.isprintable():
                record.msg, record.args = printable(message), ()
            if record.exc_info and not record.exc_text:
                text = logging.Formatter().formatException(record.exc_info)
                lines = text.split("\n")
                if not all(line.isprintable() for line in lines):
                    record.exc_text = "\n".join(printable(line) for line in lines)
        return True
