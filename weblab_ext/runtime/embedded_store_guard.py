"""Is this process a development server or a production one? (for the embedded store)

Runtime layer: it reads a WSGI environ and a table of imported modules, nothing of Flask.

The embedded store lives inside one process. That is right for ``flask run``, ``app.run()``,
tests and the CLI, and wrong under a production server: several worker processes (or a
restart, or the ``flask weblab loop`` worker) would each see their own sessions, and students
would be refused at random. So with ``WEBLAB_REDIS_URL`` unset, a production server is refused
loudly, at ``init_app`` when its modules are already loaded (gunicorn, uWSGI, mod_wsgi,
waitress import the app after themselves), else at the first request from the WSGI environ.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..config import redis_url_advice

logger = logging.getLogger("weblab_ext")

#: Modules whose presence means the app is being loaded by a production WSGI server.
SERVER_MODULES: tuple[tuple[str, str], ...] = (
    ("gunicorn", "gunicorn"),
    ("uwsgi", "uWSGI"),
    ("mod_wsgi", "mod_wsgi"),
    ("waitress", "waitress"),
    ("bjoern", "bjoern"),
    ("meinheld", "meinheld"),
    ("cheroot", "cheroot"),
)
#: WSGI environ keys only some servers set.
_SERVER_ENVIRON_KEYS = (
    ("gunicorn.socket", "gunicorn"),
    ("uwsgi.version", "uWSGI"),
    ("mod_wsgi.version", "mod_wsgi"),
)
#: ``SERVER_SOFTWARE`` of Werkzeug's development server (``flask run``, ``app.run()``).
_DEV_SERVER = "Werkzeug/"


def server_from_modules(modules: Mapping[str, Any]) -> str | None:
    """The production server whose modules are loaded (``sys.modules``), if any."""
    for module, name in SERVER_MODULES:
        if module in modules:
            return name
    return None


def server_from_environ(environ: Mapping[str, Any]) -> str | None:
    """The production server a request came through, or ``None`` for a single dev process.

    ``None`` means Werkzeug's development server, the Flask test client or an in-process call
    (no ``SERVER_SOFTWARE``); anything else that says who it is, or that other processes
    serve the same app (``wsgi.multiprocess``), is a production server.
    """
    for key, name in _SERVER_ENVIRON_KEYS:
        if key in environ:
            return name
    software = str(environ.get("SERVER_SOFTWARE") or "")
    if environ.get("wsgi.multiprocess"):
        return software or "a multi-process WSGI server"
    if software and not software.startswith(_DEV_SERVER):
        return software
    return None


def embedded_store_refusal(server: str, advice: str) -> str:
    """The error given when ``server`` would run a lab on the embedded store.

    :param advice: how to set ``WEBLAB_REDIS_URL`` (see ``config.how_to_set``).
    """
    return (
        f"WEBLAB_REDIS_URL is not set, and this lab runs under {server}: the embedded store "
        "lives inside one process, so worker processes (and `flask weblab loop`) would not "
        "see each other's sessions and students would be refused at random. Use a Redis "
        f"server: {advice}. (For one single process on purpose, set WEBLAB_REDIS_URL to "
        "'fakeredis://default'.)"
    )


#: Logged once per process when the dev server uses the embedded store.
EMBEDDED_STORE_NOTE = (
    "WEBLAB_REDIS_URL is not set: sessions are kept in the embedded store of this process "
    "(fine for `flask run` and tests; other processes, such as `flask weblab loop` or the "
    "`flask weblab fake` commands, cannot see them). To share them: {advice}."
)


class EmbeddedStoreGuard:
    """Whether this process must not serve students from the embedded store; judged once
    per process.

    With ``WEBLAB_REDIS_URL`` unset, a production server (seen in the WSGI ``environ``) would
    split sessions between its processes: every request is refused with the reason. Under the
    development server it logs once that sessions live in this process.

    :param embedded_by_default: the lab uses the embedded store because ``WEBLAB_REDIS_URL`` is
        unset (not a store the lab chose with ``backend=`` or a ``fakeredis://`` URL).
    :param testing: whether the app is in testing mode now (read at each call: tests may turn
        it on after ``init_app``); a testing app is never refused.
    """

    def __init__(self, *, embedded_by_default: bool, testing: Callable[[], bool]) -> None:
        self.embedded_by_default = embedded_by_default
        self._testing = testing
        #: ``(pid, problem)`` once the server of this process was judged.
        self._judged: tuple[int, str | None] | None = None

    def problem(self, environ: Mapping[str, Any]) -> str | None:
        """Why this process must not serve students (the WSGI ``environ`` of a request names
        the server), or ``None``."""
        if not self.embedded_by_default or self._testing():
            return None
        judged = self._judged
        if judged is not None and judged[0] == os.getpid():
            return judged[1]
        server = server_from_environ(environ)
        problem = None
        if server is not None:
            problem = embedded_store_refusal(server, redis_url_advice())
            logger.error(problem)
        else:
            logger.warning(EMBEDDED_STORE_NOTE.format(advice=redis_url_advice()))
        self._judged = (os.getpid(), problem)
        return problem
