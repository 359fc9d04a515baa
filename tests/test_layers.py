"""Layering (DESIGN.md): dependencies point downward only; checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "weblab_ext"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            # `from . import config` imports the submodule weblab_ext.config
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def module_path(name: str) -> Path | None:
    relative = Path(*name.split("."))
    for candidate in (PACKAGE.parent / relative.with_suffix(".py"),
                      PACKAGE.parent / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def transitive_imports(path: Path) -> set[str]:
    """Every module reached from ``path`` through weblab_ext's own modules."""
    seen: set[Path] = set()
    todo = [path]
    found: set[str] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imports_of(current):
            found.add(name)
            if name.startswith("weblab_ext"):
                target = module_path(name)
                if target is not None:
                    todo.append(target)
                    # importing a submodule runs its package's __init__ too
                    parent = module_path(name.rsplit(".", 1)[0]) if "." in name else None
                    if parent is not None and parent != PACKAGE / "__init__.py":
                        todo.append(parent)
    return found


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def files(*relative: str) -> list[Path]:
    result: list[Path] = []
    for item in relative:
        target = PACKAGE / item
        result.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return result


@pytest.mark.parametrize("path", files("protocol"), ids=lambda p: p.name)
def test_protocol_imports_no_flask_or_redis(path: Path) -> None:
    assert not top_level(transitive_imports(path)) & {"flask", "redis", "werkzeug", "fakeredis"}


@pytest.mark.parametrize("path", files("store"), ids=lambda p: p.name)
def test_store_imports_no_flask(path: Path) -> None:
    assert not top_level(transitive_imports(path)) & {"flask", "werkzeug"}


@pytest.mark.parametrize("path", files("users.py", "disposal.py", "userdata.py"),
                         ids=lambda p: p.name)
def test_runtime_modules_import_no_flask(path: Path) -> None:
    assert not top_level(transitive_imports(path)) & {"flask", "werkzeug"}


def test_lower_layers_do_not_import_upper_ones() -> None:
    upper = {"weblab_ext.extension", "weblab_ext.views", "weblab_ext.context",
             "weblab_ext.state", "weblab_ext.decorators", "weblab_ext.user_views"}
    for path in files("protocol", "store"):
        assert not transitive_imports(path) & upper, path.name


def test_the_checker_sees_imports() -> None:
    """Guard against a vacuous pass: the checker does find flask in the Flask layer."""
    assert "flask" in top_level(transitive_imports(PACKAGE / "views.py"))
    assert "redis" in top_level(transitive_imports(PACKAGE / "store" / "sessions.py"))
