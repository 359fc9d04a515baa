"""Where the checkout's folders are, wherever a test module sits under tests/."""

from __future__ import annotations

from pathlib import Path

#: The root of the checkout (holds setup.cfg, docs/, examples/, weblab_ext/).
REPO = Path(__file__).resolve().parents[2]
#: The package's source folder.
PACKAGE = REPO / "weblab_ext"
#: The documentation's source folder.
DOCS = REPO / "docs"
#: The example labs.
EXAMPLES = REPO / "examples"
