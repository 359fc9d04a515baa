"""The suite reports what it runs: no test is collected only to skip itself on the embedded
store (mark it ``real_redis_only`` instead, see tests/support/lab.py)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _skips_on_the_store(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.If) or "store_url" not in ast.unparse(node.test):
            continue
        for inner in node.body:
            call = inner.value if isinstance(inner, ast.Expr) else None
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "pytest.skip":
                lines.append(inner.lineno)
    return lines


def test_no_test_skips_itself_on_the_embedded_store() -> None:
    offenders = [
        f"{path.name}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in _skips_on_the_store(ast.parse(path.read_text()))
    ]
    assert offenders == []


def test_the_check_finds_such_a_skip() -> None:
    source = (
        "def test_x(store_url):\n"
        '    if not store_url.startswith("redis://"):\n'
        '        pytest.skip("needs the real server")\n'
    )
    assert _skips_on_the_store(ast.parse(source)) == [3]
