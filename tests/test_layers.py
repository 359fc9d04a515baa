"""Layering: one rule per folder of ``weblab_ext``, checked on the import statements.

The tree is the architecture: the top level is the Flask layer lab code imports, and each
subfolder states its rule in its ``__init__`` docstring. This module is those rules as tests.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tools.import_graph import PACKAGE, cycles, imports_of, module_name, module_path

FLASK = {"flask", "werkzeug", "flask_socketio"}
REDIS = {"redis", "fakeredis"}

#: folder → (third-party packages it must not reach, even through our modules;
#:           weblab_ext folders it must not import directly)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "protocol": (
        FLASK | REDIS | {"click"},
        {"store", "runtime", "views", "cli", "socketio", "tasks", "rlms", "testing"},
    ),
    "store": (
        FLASK | {"click"},
        {"protocol", "runtime", "views", "cli", "socketio", "tasks", "rlms", "testing"},
    ),
    "runtime": (FLASK | {"click"}, {"views", "cli", "socketio", "tasks", "rlms", "testing"}),
    "rlms": (
        REDIS | {"click"},
        {"store", "runtime", "views", "cli", "socketio", "tasks", "testing"},
    ),
    # The Flask layer's adapters go through the runtime's services, never the store.
    "views": (set(), {"store", "cli", "socketio", "testing"}),
    "tasks": (set(), {"views", "cli", "socketio", "testing"}),
    "socketio": (set(), {"store", "views", "cli", "testing"}),
    "cli": (set(), {"store", "testing"}),
}
#: Top-level modules that form the base: importable from every layer, importing no layer.
BASE = ("errors.py", "config", "random_ids.py", "states.py")
#: Who may import these third-party packages directly (everyone else goes through them).
DIRECT_IMPORTS = {
    "click": {"cli"},
    "redis": {"store", "<top>"},  # the top level names redis.Redis in signatures only
    "requests": {"rlms"},  # the RLMS client's network transport only
    "urllib3": {"rlms"},
}
#: Type-only imports that close an import circle on purpose: (importer, imported). The
#: importer says why next to the import (the comment names the "import circle").
TYPE_ONLY_CIRCLES = {("weblab_ext.socketio.push", "weblab_ext.extension")}
MAX_TOP_LEVEL_MODULES = 10
MAX_MODULE_LINES = 400


def transitive_imports(path: Path) -> set[str]:
    """Every module reached from ``path`` at run time through weblab_ext's own modules."""
    seen: set[Path] = set()
    todo = [path]
    found: set[str] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imports_of(current, runtime_only=True):
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


def top_level(names: set[str] | frozenset[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def folder_of(name: str) -> str:
    """``weblab_ext.store.keys`` → ``store``; a top-level module → ``<top>``."""
    parts = name.split(".")
    if len(parts) >= 2 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "<top>"


def files(*relative: str) -> list[Path]:
    result: list[Path] = []
    for item in relative:
        target = PACKAGE / item
        result.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return result


ALL_MODULES = sorted(PACKAGE.rglob("*.py"))


def _ids(path: Path) -> str:
    return module_name(path)


@pytest.mark.parametrize(
    ("folder", "path"),
    [(folder, path) for folder in RULES for path in files(folder)],
    ids=lambda value: value if isinstance(value, str) else _ids(value),
)
def test_folder_rule(folder: str, path: Path) -> None:
    packages, folders = RULES[folder]
    reached = transitive_imports(path)
    assert not top_level(reached) & packages, f"{module_name(path)} reaches {packages}"
    direct = {folder_of(name) for name in imports_of(path) if name.startswith("weblab_ext.")}
    assert not direct & folders, f"{module_name(path)} imports {direct & folders}"


@pytest.mark.parametrize("path", files(*BASE), ids=_ids)
def test_base_modules_import_no_layer(path: Path) -> None:
    own = module_name(path).split(".")[1]  # a base module, or the config package
    modules = {name.split(".")[1] for name in imports_of(path) if name.startswith("weblab_ext.")}
    assert modules <= {"errors", own}, modules
    assert not top_level(imports_of(path)) & (FLASK | REDIS | {"click"})


@pytest.mark.parametrize("package", sorted(DIRECT_IMPORTS))
def test_direct_imports_only_where_allowed(package: str) -> None:
    offenders = [
        module_name(path)
        for path in ALL_MODULES
        if package in top_level(imports_of(path))
        and folder_of(module_name(path)) not in DIRECT_IMPORTS[package]
    ]
    assert not offenders


def test_top_level_holds_at_most_ten_modules() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_every_folder_states_its_rule() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert docstring, f"{folder.name}/__init__.py has no docstring stating its rule"


@pytest.mark.parametrize(
    "folder",
    sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()),
    ids=lambda folder: folder.name,
)
def test_folder_docstring_names_every_module(folder: Path) -> None:
    """A newcomer reads the folder's ``__init__`` docstring as its table of contents."""
    docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
    modules = {path.stem for path in folder.glob("*.py")} - {"__init__"}
    modules |= {path.name for path in folder.iterdir() if (path / "__init__.py").is_file()}
    # As :mod:`.name`, ``name`` or name.py: a word of the prose does not count.
    unnamed = {
        name
        for name in modules
        if not re.search(rf":mod:`\.{name}`|``{name}(\.py)?``|\b{name}\.py\b", docstring)
    }
    assert not unnamed, f"{folder.name}/__init__.py does not name {unnamed}"


@pytest.mark.parametrize("path", ALL_MODULES, ids=_ids)
def test_module_size(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("runtime_only", [True, False], ids=["run-time", "type-only-too"])
def test_no_import_cycle(runtime_only: bool) -> None:
    """Following module-level and function-level imports, with and without the
    ``if TYPE_CHECKING:`` ones (a circle of type-only imports is a knot all the same)."""
    graph: dict[str, set[str]] = {}
    for path in ALL_MODULES:
        targets = set()
        for name in imports_of(path, runtime_only=runtime_only):
            target = module_path(name) if name.startswith("weblab_ext") else None
            if target is not None and target != path:
                targets.add(module_name(target))
        graph[module_name(path)] = targets - {
            imported for importer, imported in TYPE_ONLY_CIRCLES if importer == module_name(path)
        }
    # Importing weblab_ext.a.b runs weblab_ext.a first; an edge back to one's own package
    # (``from . import x``) is the package running its submodule, not a cycle.
    found = [cycle for cycle in cycles(graph) if not _is_package_self_edge(cycle)]
    assert not found, found


@pytest.mark.parametrize(("importer", "imported"), sorted(TYPE_ONLY_CIRCLES))
def test_each_allowed_circle_is_explained(importer: str, imported: str) -> None:
    path = module_path(importer)
    assert path is not None
    assert imported in imports_of(path) and imported not in imports_of(path, runtime_only=True)
    assert "import circle" in path.read_text(), f"{importer} does not say why it imports {imported}"


def _is_package_self_edge(cycle: list[str]) -> bool:
    return len(cycle) == 2 and (
        cycle[0].startswith(cycle[1] + ".") or cycle[1].startswith(cycle[0] + ".")
    )


def test_the_checker_sees_imports() -> None:
    """Guard against a vacuous pass: the checker does find what is there."""
    assert "flask" in top_level(transitive_imports(PACKAGE / "views" / "rlms_api.py"))
    assert "redis" in top_level(transitive_imports(PACKAGE / "store" / "sessions.py"))
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_one_name_per_concept() -> None:
    """No two classes of the package share a name (aliases for old names are fine)."""
    seen: dict[str, str] = {}
    for path in ALL_MODULES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                assert node.name not in seen, (node.name, seen.get(node.name), module_name(path))
                seen[node.name] = module_name(path)
