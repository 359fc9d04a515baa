"""The documentation and the package's source agree: every message a page quotes with the
``{message}`` role is one the code produces, and no docstring (which the API reference
renders) cites a document that is not in the repository."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.support.paths import REPO

ROOT = REPO
PACKAGE = ROOT / "weblab_ext"
DOCS = ROOT / "docs"

#: ``{message}`text``` (or with more backticks, for a message that holds a backtick).
_MESSAGE = re.compile(r"\{message\}(?P<ticks>`+)(?P<text>.+?)(?P=ticks)(?!`)", re.S)
#: Stands for what varies in a quoted message (a key, a number, a path).
_VARIES = "..."
#: Where the source has a replacement field (f-string value), none of the quoted text can be.
_FIELD = "\x00"


def _text_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else _FIELD for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "text " + name + "..."
        left, right = _text_of(node.left), _text_of(node.right)
        if left is not None or right is not None:
            return (left or _FIELD) + (right or _FIELD)
    return None


@cache
def package_texts() -> tuple[str, ...]:
    """Every string literal of the package (implicit concatenations joined, f-string fields
    marked), plus its templates and static files, with runs of white space made one space."""
    texts = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = _text_of(node) if isinstance(node, ast.expr) else None
            if text:
                texts.append(text)
    for folder in ("templates", "static"):
        texts += [
            path.read_text(encoding="utf-8")
            for path in (PACKAGE / folder).rglob("*")
            if path.is_file()
        ]
    return tuple(" ".join(text.split()) for text in texts)


def quoted_messages(page: Path) -> list[tuple[int, str]]:
    source = page.read_text(encoding="utf-8")
    return [
        (source.count("\n", 0, match.start()) + 1, " ".join(match["text"].split()))
        for match in _MESSAGE.finditer(source)
    ]


def produced(message: str) -> bool:
    """Whether some string of the package reads ``message``, ``...`` matching anything (the
    spaces around a ``...`` too: a varying part may bring its own)."""
    parts = message.split(_VARIES)
    pattern = re.compile(
        ".*?".join(re.escape(part.strip() if len(parts) > 1 else part) for part in parts)
    )
    return any(pattern.search(text) for text in package_texts())


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


QUOTED = [(page, line, message) for page in _pages() for line, message in quoted_messages(page)]


def test_troubleshooting_quotes_its_messages_in_the_checked_form() -> None:
    """Guards the extractor: the page's messages are found, so the test below checks them."""
    on_the_page = [m for page, _, m in QUOTED if page.name == "troubleshooting.md"]
    assert len(on_the_page) >= 60


@pytest.mark.parametrize(
    "page, line, message", QUOTED, ids=[f"{page.name}:{line}" for page, line, _ in QUOTED]
)
def test_quoted_message_is_produced_by_the_code(page: Path, line: int, message: str) -> None:
    assert produced(message), f"{page.name}:{line}: no string of weblab_ext says {message!r}"


def test_no_quoted_message_is_cut_short_by_a_backtick_inside_it() -> None:
    """A message holding a backtick needs double backticks around it (``{message}``...``):
    with single ones the role would end at its first backtick, and the rest would be text."""
    cut = [
        f"{page.name}: {match[0][:60]}"
        for page in _pages()
        for match in _MESSAGE.finditer(page.read_text(encoding="utf-8"))
        if re.match(r"\w", page.read_text(encoding="utf-8")[match.end() : match.end() + 1])
    ]
    assert cut == []


def test_the_check_tells_a_changed_message() -> None:
    assert produced("Unknown configuration key ... (ignored): ...")
    assert not produced("Unknown configuration key ... (skipped): ...")
    assert produced("did not answer within ... s")  # a part of a longer string
    assert produced(
        "Refusing to start without ... in the environment; run with --debug to use "
        "development values instead"
    )  # built with +


def test_package_source_cites_no_document_outside_the_repository() -> None:
    """Docstrings become the API reference; comments are read by contributors who do not have
    those documents either. (The names are those the Sphinx build checks pages for.)"""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from weblab_docs import OUTSIDE_CITATIONS
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE_CITATIONS.search(line)
    ]
    assert cited == []


def test_api_reference_lists_every_public_member_of_weblab() -> None:
    from weblab_ext import WebLab

    page = (DOCS / "api.md").read_text(encoding="utf-8")
    found = re.search(r"autoclass:: WebLab\n   :members: (.*?)\n\n", page, re.S)
    assert found is not None
    listed = {name.strip() for name in found[1].split(",")}
    public = {name for name in dir(WebLab) if not name.startswith("_")}
    assert public - listed == {"reinstall"}  # the pytest plugin's hook, not for labs
    assert listed <= public
