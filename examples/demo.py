"""What ``make demo`` runs: the real-time example lab, entered at http://127.0.0.1:5000/demo-start.

``make demo PORT=5001`` (or ``--port``) serves it on another port; a busy port is reported
before anything else is printed.

It runs the example in debug mode (its development secrets), with no reloader and no
interactive debugger, on Werkzeug's development server started quietly: the demo prints its
own instructions and nothing else (no "development server" or "production deployment"
banner, which would alarm a newcomer about a program that only serves 127.0.0.1).

It serves ``examples/socketio`` (or ``examples/simple`` when Flask-SocketIO is missing) on the
embedded in-process store and prints what to open: ``/demo-start``, a page added for the demo
that starts a student session through the lab's own RLMS endpoint (as WebLab-Deusto would)
and sends the browser to its launch URL (``/`` leads there too); and a ``curl`` command doing
the same over HTTP.
Sessions start when asked for, so none times out while you read the instructions. The lab
declares its heater as one device (``WEBLAB_DEVICES``): one session at a time, so a second
``/demo-start`` while a session runs says the heater is in use (the browser in the session is
taken back to its lab).

    python examples/demo.py [--host 127.0.0.1] [--port 5000] [--slot 600]
"""

from __future__ import annotations

import argparse
import base64
import html
import importlib.util
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


def load_lab() -> ModuleType:
    """Import the lab the demo serves: the Socket.IO example if possible, else the simple one.

    In debug mode, so that it runs on the development secrets written in the example (it
    serves 127.0.0.1 only); outside debug mode the examples refuse to start without secrets
    from the environment.
    """
    os.environ.setdefault("FLASK_DEBUG", "1")
    try:
        import flask_socketio  # noqa: F401
    except ImportError:
        path = HERE / "simple" / "app.py"
    else:
        path = HERE / "socketio" / "app.py"
    spec = importlib.util.spec_from_file_location("demo_lab", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_lab"] = module
    spec.loader.exec_module(module)
    return module


def _credentials(app: Any) -> tuple[str, str]:
    return app.config["WEBLAB_USERNAME"], app.config["WEBLAB_PASSWORD"]


def start_body(base_url: str, slot: float, timestamp: str | None = None) -> dict[str, Any]:
    """The start request an RLMS would send for one student (starting now by default)."""
    return {
        "client_initial_data": {},
        "server_initial_data": {
            "priority.queue.slot.start.timestamp": timestamp or repr(time.time()),
            "priority.queue.slot.length": str(slot),
            "request.username": "demo.student",
            "request.username.unique": "demo.student@demo",
            "request.full_name": "Demo Student",
            "request.locale": "en",
            "request.experiment_id.experiment_name": "demo",
            "request.experiment_id.category_name": "Demos",
        },
        "back": f"{base_url}/demo-back",
    }


class DeviceBusy(Exception):
    """The lab refused the start: its one device still holds another session."""

    def __init__(self, device: str) -> None:
        super().__init__(device)
        self.device = device


def start_session(app: Any, base_url: str, slot: float = 600) -> str:
    """Start a session through the lab's RLMS endpoint (in process); return the launch URL.

    :raises DeviceBusy: when the lab's device is held by another session.
    :raises RuntimeError: when the lab refused the start for another reason.
    """
    username, password = _credentials(app)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    reply = app.test_client().post(
        "/weblab/sessions/",
        json=start_body(base_url, slot),
        headers={"Authorization": f"Basic {token}"},
    )
    answer = reply.json if isinstance(reply.json, dict) else {}
    if reply.status_code == 409 and answer.get("code") == "device-busy":
        raise DeviceBusy(next(iter(app.config.get("WEBLAB_DEVICES") or ["lab"])))
    if reply.status_code != 200 or "session_id" not in answer:
        raise RuntimeError(f"The lab refused the demo session: {reply.get_data(as_text=True)}")
    return f"{base_url}/callback/{answer['session_id']}"


def curl_command(app: Any, base_url: str, slot: float = 600) -> str:
    """A shell command that starts another session over HTTP, as an RLMS does."""
    username, password = _credentials(app)
    # The start timestamp must be "now" when the command runs, not when it was printed.
    body = json.dumps(start_body(base_url, slot, timestamp="@NOW@"))
    body = body.replace('"@NOW@"', "\"'$(date +%s)'\"")
    return (
        f"curl -s -u {username}:{password} -H 'Content-Type: application/json' "
        f"-d '{body}' {base_url}/weblab/sessions/"
    )


BUSY_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>The {device} is in use</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto; }}</style>
</head>
<body>
  <h1 id="demo-busy">The {device} is in use by another session</h1>
  <p>The lab has one {device} and it serves one session at a time, so a second student
     never switches it under the first.{left}</p>
  <p>Try again when it ends: <a id="demo-retry" href="/demo-start">start a session</a>.</p>
</body>
</html>
"""

FAILED_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>The demo session did not start</title></head>
<body><h1 id="demo-failed">The demo session did not start</h1><pre>{error}</pre>
<p><a href="/demo-start">Try again</a></p></body>
</html>
"""


def busy_page(app: Any, device: str) -> str:
    """What a second ``/demo-start`` shows while the device holds another session (the lab's
    devices table, as ``flask weblab status`` shows it, tells how long that one may last)."""
    left = ""
    devices = app.extensions["weblab"].devices
    rows = [row for row in devices.overview() if row.name == device] if devices else []
    if rows and rows[0].state == "active" and rows[0].time_left is not None:
        left = (
            f" That session ends when its student leaves the lab or closes the tab, and at the"
            f" latest in {int(rows[0].time_left)} seconds."
        )
    return BUSY_PAGE.format(device=html.escape(device), left=left)


def add_demo_routes(app: Any, base_url: str, slot: float = 600) -> None:
    """Add ``/demo-start``: each visit starts a session and redirects to its launch URL; and
    ``/`` (when the lab has no page there), which leads to it.

    The example declares its hardware as one device (``WEBLAB_DEVICES``), which holds one
    session at a time. So while a session runs, ``/demo-start`` takes the browser holding it
    back to its lab, and tells any other browser (409) that the device is in use: try again
    when that session ends. It refuses rather than waits, as the lab's RLMS endpoint does:
    queueing students is the RLMS's job (WebLab-Deusto shows them their place in the queue),
    and a request held open for up to a whole slot would outlast browser and proxy timeouts.
    """
    from flask import Response, redirect, url_for

    from weblab_ext import weblab_user

    def demo_start() -> Any:
        if weblab_user.active:  # this browser already holds the running session
            return redirect(url_for("lab"))
        try:
            return redirect(start_session(app, base_url, slot))
        except DeviceBusy as busy:
            page = busy_page(app, busy.device)
            return Response(page, 409, mimetype="text/html")
        except RuntimeError as error:
            page = FAILED_PAGE.format(error=html.escape(str(error)))
            return Response(page, 500, mimetype="text/html")

    app.add_url_rule("/demo-start", "demo_start", demo_start)
    if not any(rule.rule == "/" for rule in app.url_map.iter_rules()):
        app.add_url_rule("/", "demo_home", lambda: redirect("/demo-start"))


def print_instructions(lab: ModuleType, base_url: str) -> None:
    """Tell the person running ``make demo`` what to do next."""
    kind = "real-time (Socket.IO)" if hasattr(lab, "socketio") else "simple"
    lines = [
        "",
        f"weblab_ext demo: the {kind} example lab (embedded store, no Redis needed).",
        "",
        "1. Open this URL in a browser: it starts a student session through the lab's RLMS",
        "   endpoint, as WebLab-Deusto would, and takes you to the lab:",
        f"   {base_url}/demo-start",
        "",
        "2. Or start a session over HTTP exactly as an RLMS does, and open the 'url' it prints:",
        f"   {curl_command(lab.app, base_url)}",
        "",
        "   When a session ends (Leave the lab, slot over, tab closed for",
        f"   {lab.app.config.get('WEBLAB_TIMEOUT')} s) the page goes to the 'back' URL.",
        "   One session at a time: the lab's hardware is one device (WEBLAB_DEVICES), so",
        "   a second start while a session runs is refused until that session ends.",
        "   Stop the demo with Ctrl+C.",
        "",
    ]
    print("\n".join(lines), flush=True)


def port_problem(host: str, port: int) -> str | None:
    """Why the demo cannot listen on ``host:port``, if it cannot (checked before printing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server will: a port left in TIME_WAIT by the last run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return (
                f"Cannot serve the demo on {host}:{port}: {error.strerror or error}. "
                f"Something else listens there: stop it, or pick another port with "
                f"`make demo PORT={port + 1}` (or `python examples/demo.py --port "
                f"{port + 1}`)."
            )
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--slot", type=float, default=600, help="session length in seconds")
    args = parser.parse_args(argv)
    problem = port_problem(args.host, args.port)
    if problem is not None:
        raise SystemExit(problem)
    # The demo is about the embedded store: ignore a store configured for the examples, and
    # name it, so that choosing it is explicit (nothing to warn about).
    os.environ["FLASK_WEBLAB_REDIS_URL"] = "fakeredis://demo"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    lab = load_lab()
    base_url = f"http://{args.host}:{args.port}"
    add_demo_routes(lab.app, base_url, args.slot)
    serve(lab.app, args.host, args.port, ready=lambda: print_instructions(lab, base_url))


def serve(app: Any, host: str, port: int, ready: Any) -> None:
    """Serve ``app`` on Werkzeug's threaded development server until Ctrl+C; call ``ready``
    once it listens.

    What ``app.run()`` and Flask-SocketIO's ``socketio.run()`` (threading mode, the example's)
    do, without their banners: no reloader (it would run this script twice), no interactive
    debugger (it runs code typed into an error page; debug mode only chose the development
    secrets), and no "production deployment" warning, which Flask-SocketIO prints whenever
    stdin is not a terminal.
    """
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    ready()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
