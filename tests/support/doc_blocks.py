"""The fenced blocks of a Markdown page of the docs, MyST directives included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)


@dataclass
class Block:
    page: Path
    line: int
    language: str
    options: dict[str, str]
    code: str
    directive: str | None

    @property
    def name(self) -> str:
        return f"{self.page.name}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a Markdown page, MyST directives included."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        info = match["info"].strip()
        directive = None
        directive_match = re.match(r"\{([\w-]+)\}\s*(.*)", info)
        if directive_match:
            directive, language = directive_match[1], directive_match[2].strip()
        else:
            language = info.split()[0] if info else ""
        options, code_lines = {}, match["body"].splitlines(keepends=True)
        if directive:
            while code_lines and code_lines[0].startswith(":"):
                key, _, value = code_lines.pop(0)[1:].partition(":")
                options[key.strip()] = value.strip()
            if code_lines and not code_lines[0].strip():
                code_lines.pop(0)
        found.append(
            Block(
                page,
                text.count("\n", 0, match.start()) + 1,
                language,
                options,
                "".join(code_lines),
                directive,
            )
        )
    return found
