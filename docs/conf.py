"""Sphinx configuration of the weblab_ext documentation (``make docs``).

The pages are Markdown (MyST); the configuration and CLI references are generated from the
code (``docs/_ext/weblab_docs.py`` and sphinx-click) and the API reference from docstrings, so
none of them can drift. The build needs no network: intersphinx is not used.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's weblab_ext, installed or not

import weblab_ext  # noqa: E402

project = "weblab_ext"
author = "the weblab_ext authors"
copyright = "the weblab_ext authors, BSD-3-Clause"
release = weblab_ext.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx_click",
    "weblab_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "samples/**/README.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# -- MyST -------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links work as on a Git host

# -- autodoc ----------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# The API page documents the pytest plugin by its module docstring only (`:no-members:`), so
# the docs extra needs no pytest: a docs host installs `.[docs]` and nothing else.
autodoc_mock_imports: list[str] = ["pytest"]

# -- HTML -------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"weblab_ext {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
