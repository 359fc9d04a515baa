"""Packaging: the wheel builds without setuptools' warnings and ships the package's templates
and static files; the ``docs`` extra builds the documentation on its own."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO

ROOT = REPO
PACKAGE = ROOT / "weblab_ext"


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)", line)
        if match:
            names.add(match[1].lower().replace("-", "_"))
    return names


def _data_files() -> list[str]:
    """The files under the package's data folders, as paths inside the wheel."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("templates", "static")
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file()
    )


@pytest.mark.slow
def test_wheel_builds_without_warnings_and_ships_templates_and_static(tmp_path: Path) -> None:
    """``pip install .`` printed setuptools' "Package would be ignored" for ``templates`` and
    ``static`` on every install; the wheel must still carry their files."""
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source / "weblab_ext")  # its __pycache__ folders too
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    out = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = build.stdout + build.stderr
    assert build.returncode == 0, output[-3000:]
    assert "would be ignored" not in output, output
    assert "SetuptoolsDeprecationWarning" not in output, output
    (wheel,) = out.glob("weblab_ext-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert _data_files()
    assert set(_data_files()) <= names
    assert "weblab_ext/py.typed" in names
    assert "weblab_ext/testing/pytest_plugin.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_package_data_is_declared_for_every_data_folder() -> None:
    """The quick form of the check above: the data folders are found as packages (so no
    "would be ignored") and their files are declared as package data."""
    config = _setup_cfg()
    assert config["options"]["packages"].strip() == "find_namespace:"
    data = config["options.package_data"]
    for folder in ("templates", "static"):
        patterns = data[f"weblab_ext.{folder}"]
        suffixes = {Path(name).suffix for name in _data_files() if f"/{folder}/" in name}
        assert suffixes and all(f"*{suffix}" in patterns for suffix in suffixes)


#: Import names of the packages the ``docs`` extra does not install.
def _not_in_docs_extra() -> set[str]:
    config = _setup_cfg()
    extras = config["options.extras_require"]
    installed = _requirement_names(config["options"]["install_requires"])
    installed |= _requirement_names(extras["docs"])
    others = set()
    for name, requirements in extras.items():
        if name != "docs":
            others |= _requirement_names(requirements)
    return others - installed


def test_the_blocked_packages_are_the_test_only_ones() -> None:
    assert {"pytest", "flask_socketio", "prometheus_client", "playwright"} <= _not_in_docs_extra()
    assert "sphinx" not in _not_in_docs_extra()


@pytest.mark.slow
def test_docs_build_with_the_docs_extra_alone(tmp_path: Path) -> None:
    """A docs host installs ``.[docs]`` only: no pytest, no Flask-SocketIO. The build (with
    warnings as errors) must not need them; they are made unimportable here."""
    blocked = sorted(_not_in_docs_extra())
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        BLOCKED = {blocked!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
                return None

        for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
            del sys.modules[loaded]
        sys.meta_path.insert(0, Block())
        from sphinx.cmd.build import main
        sys.exit(main(["-W", "--keep-going", "-E", "-q", "-b", "html",
                       {str(ROOT / "docs")!r}, {str(tmp_path / "html")!r}]))
        """
    )
    build = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp_path,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-5000:]
    assert (tmp_path / "html" / "api.html").is_file()
