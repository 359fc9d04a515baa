"""The lab that ``bench_rlms`` calls over real HTTP, served in its own process.

``python -m benchmarks.rlms_server <redis-url>`` serves the benchmark lab
(:func:`benchmarks.common.make_lab`) with Werkzeug's threaded server (what ``flask run``
uses: HTTP/1.1, keep-alive) on a free port of 127.0.0.1, prints ``ready <port>`` and serves
until terminated. It counts the TCP connections it accepts; ``GET /bench/connections``
answers the count so far (that request's own connection included).
"""

from __future__ import annotations

import sys
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from .common import make_lab

_lock = threading.Lock()
_connections = 0


class CountingHandler(WSGIRequestHandler):
    """Counts every connection accepted (``handle`` runs once per connection and serves all
    the keep-alive requests on it)."""

    def handle(self) -> None:
        global _connections
        with _lock:
            _connections += 1
        super().handle()

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass  # one line per request would be the cost measured


def main(argv: list[str]) -> None:
    """Serve until terminated.

    :param argv: ``[redis_url]``.
    """
    app, _ = make_lab(argv[0])

    @app.get("/bench/connections")
    def connections() -> dict[str, int]:
        with _lock:
            return {"connections": _connections}

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=CountingHandler)
    print(f"ready {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
