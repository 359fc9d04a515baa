"""The lab that ``bench_rlms`` calls over real HTTP, served in a process of its own.

``create_app()`` builds the benchmark lab (:func:`benchmarks.common.make_lab`) on the Redis
named by ``BENCH_REDIS_URL``; it compares the client address and port of each request with
the previous one, so that ``GET /bench/connections`` answers how many TCP connections the
calls of one client, made one after the other, came on (a client port may be used again once
its connection is closed: counting distinct ports would miss some); ``?reset=1`` starts the
count again. Serve it with gunicorn
(``gunicorn -k gthread 'benchmarks.rlms_server:create_app()'``) or with Werkzeug's threaded
server, as ``flask run`` does: ``python -m benchmarks.rlms_server`` prints ``ready <port>``
and serves until terminated.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.serving import WSGIRequestHandler, make_server

from .common import make_lab

COUNT_PATH = "/bench/connections"


def create_app() -> Flask:
    """The lab, counting the connections its requests arrive on."""
    app, _ = make_lab(os.environ["BENCH_REDIS_URL"])
    state: dict[str, Any] = {"count": 0, "last": None}
    lock = threading.Lock()
    wsgi = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != COUNT_PATH:
            peer = (environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))
            with lock:
                if peer != state["last"]:
                    state["count"] += 1
                    state["last"] = peer
        return wsgi(environ, start_response)

    app.wsgi_app = counting  # type: ignore[method-assign]

    @app.get(COUNT_PATH)
    def connections() -> dict[str, int]:
        with lock:
            count = int(state["count"])
            if request.args.get("reset"):
                state.update(count=0, last=None)
            return {"connections": count}

    return app


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass  # a log line per request would be part of what is measured


def main() -> None:
    """Serve with Werkzeug's threaded server until terminated."""
    server = make_server("127.0.0.1", 0, create_app(), threaded=True, request_handler=QuietHandler)
    print(f"ready {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
