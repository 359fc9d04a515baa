"""Running the ``flask weblab`` commands of a lab under test."""

from __future__ import annotations

from typing import Any

from tests.support.lab import Lab


def invoke(lab: Lab, *args: str) -> Any:
    return lab.app.test_cli_runner().invoke(args=["weblab", "fake", *args])
