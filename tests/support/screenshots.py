"""Numbered screenshots of a browser test, in test-artifacts/ at the root of the checkout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

ARTIFACTS = REPO / "test-artifacts"


class Shots:
    """Numbered screenshots of one test: test-artifacts/<test>/<n>-<step>.png."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0
        self.taken: list[Path] = []

    def __call__(self, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path
