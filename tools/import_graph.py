"""The import graph of ``weblab_ext``: fan-out per module and the import circles.

``python -m tools.import_graph`` prints, for the graph of every import (type-only ones under
``if TYPE_CHECKING:`` included) and for the run-time graph (without them): the modules with
the highest fan-out (how many of the package's modules each imports) and every strongly
connected component of more than one module (an import circle). ``--dot`` prints the full
graph in Graphviz format instead (``python -m tools.import_graph --dot | dot -Tsvg``).

Importing ``weblab_ext.a.b`` runs the package ``weblab_ext.a`` first, so it counts as an
import of both. An edge from a module to its own package (``from . import x`` in
``a/__init__.py``, or a submodule importing its package) is the package running its
submodule, not a circle, and is left out.
"""

from __future__ import annotations

import argparse
import ast
import functools
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "weblab_ext"


def module_name(path: Path) -> str:
    """``weblab_ext/store/keys.py`` → ``weblab_ext.store.keys``."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def type_checking_lines(tree: ast.Module) -> set[int]:
    """The lines under ``if TYPE_CHECKING:`` (imports for type hints only)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def module_path(name: str) -> Path | None:
    """The file of the package's module ``name``, if it is one."""
    relative = Path(*name.split("."))
    for candidate in (
        PACKAGE.parent / relative.with_suffix(".py"),
        PACKAGE.parent / relative / "__init__.py",
    ):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def imports_of(path: Path, *, runtime_only: bool = False) -> frozenset[str]:
    """Absolute names of what ``path`` imports, third-party included (relative imports
    resolved). ``tests/test_layers.py`` checks the layering rules on these.

    :param runtime_only: leave out imports under ``if TYPE_CHECKING:``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = type_checking_lines(tree) if runtime_only else set()
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
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
    return frozenset(found)


def package_imports_of(path: Path, *, runtime_only: bool) -> set[str]:
    """The package's modules ``path`` imports: the edges of the graph."""
    names = imports_of(path, runtime_only=runtime_only)
    own = module_name(path)
    found: set[str] = set()
    for name in names:
        target = module_path(name) if name.startswith("weblab_ext") else None
        if target is None:
            continue
        target_name = module_name(target)
        # Importing weblab_ext.a.b runs the package weblab_ext.a first.
        found.update(_packages_of(target_name, own))
        if target_name == own or _package_edge(own, target_name):
            continue
        found.add(target_name)
    return found


def _packages_of(target: str, importer: str) -> set[str]:
    """The packages (below ``weblab_ext``) that importing ``target`` runs, but not the
    importer's own ones."""
    parts = target.split(".")
    return {
        package
        for package in (".".join(parts[:end]) for end in range(2, len(parts)))
        if not _package_edge(importer, package) and package != importer
    }


def _package_edge(a: str, b: str) -> bool:
    return a.startswith(b + ".") or b.startswith(a + ".")


def graph(*, runtime_only: bool) -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    return {
        module_name(path): package_imports_of(path, runtime_only=runtime_only)
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _report(title: str, edges: dict[str, set[str]], top: int) -> None:
    fan_out = sorted(edges.items(), key=lambda item: (-len(item[1]), item[0]))
    total = sum(len(targets) for targets in edges.values())
    print(f"== {title}: {len(edges)} modules, {total} edges")
    print(f"highest fan-out (top {top}):")
    for name, targets in fan_out[:top]:
        print(f"  {len(targets):3d}  {name}")
    found = cycles(edges)
    if not found:
        print("import circles: none")
    for component in found:
        print(f"import circle of {len(component)} modules: {', '.join(component)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=8, help="modules listed by fan-out")
    parser.add_argument("--dot", action="store_true", help="print the graph (all imports)")
    args = parser.parse_args(argv)
    if args.dot:
        print("digraph weblab_ext {")
        for name, targets in graph(runtime_only=False).items():
            for target in sorted(targets):
                print(f'  "{name}" -> "{target}";')
        print("}")
        return
    _report("every import (type-only included)", graph(runtime_only=False), args.top)
    print()
    _report("run-time imports only", graph(runtime_only=True), args.top)


if __name__ == "__main__":
    main()
