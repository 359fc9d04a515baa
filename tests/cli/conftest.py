"""The CLI tests' fixture: a lab served over real HTTP for ``flask weblab fake``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.lab import Lab


@pytest.fixture
def served(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[Lab]:
    """A lab answering on 127.0.0.1:<port>, its SERVER_NAME set to that address."""
    lab = make_lab()
    lab.app.instance_path = str(tmp_path / "instance")
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lab.app, threaded=True)
    lab.app.config["SERVER_NAME"] = f"127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield lab
    server.shutdown()
    thread.join()
    server.server_close()
