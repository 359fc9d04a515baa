"""Raw RLMS requests: what a test sends when an RLMS client would not.

:class:`~weblab_ext.testing.harness.LabUnderTest` has these methods; its RLMS client
(:meth:`~weblab_ext.testing.harness.LabUnderTest.rlms`) sends only what a real RLMS sends,
these build the WebLab-Deusto requests by hand: a body of the test's own, a session followed
by a browser of its own.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient


class RawRLMSRequests:
    """Raw WebLab-Deusto requests to :attr:`app` with its RLMS credentials (a mixin)."""

    app: Flask

    def url_for(self, endpoint: str, **values: Any) -> str:
        """``flask.url_for`` (a path) outside of a request."""
        raise NotImplementedError

    def test_client(self, eager_tasks: bool | None = None) -> FlaskClient:
        """A test client for :attr:`app`."""
        raise NotImplementedError

    @functools.cached_property
    def _browsers(self) -> dict[str, FlaskClient]:
        return {}

    @property
    def rlms_headers(self) -> dict[str, str]:
        """The ``Authorization`` header of the app's RLMS credentials (``WEBLAB_USERNAME``,
        ``WEBLAB_PASSWORD``), for requests made with :meth:`test_client`."""
        config = self.app.config
        pair = f"{config.get('WEBLAB_USERNAME')}:{config.get('WEBLAB_PASSWORD')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def start_body(self, **overrides: Any) -> dict[str, Any]:
        """A WebLab-Deusto start body (a 200 s slot from now for ``john.smith``).

        :param overrides: top-level keys to replace (``client_initial_data``, ``back``...);
            ``server={...}`` updates ``server_initial_data`` key by key instead.
        """
        server = {
            "priority.queue.slot.start.timestamp": repr(time.time()),
            "priority.queue.slot.length": "200",
            "request.username": "john.smith",
            "request.username.unique": "john.smith@institution",
            "request.full_name": "John Smith",
            "request.locale": "es_ES",
            "request.experiment_id.experiment_name": "mylab",
            "request.experiment_id.category_name": "Lab experiments",
        }
        server.update(overrides.pop("server", {}))
        body: dict[str, Any] = {
            "client_initial_data": {"in_test": True},
            "server_initial_data": server,
            "back": "http://rlms.example/back",
        }
        body.update(overrides)
        return body

    def start_raw(self, **overrides: Any) -> str:
        """POST :meth:`start_body` to the WebLab-Deusto start endpoint; return the session id.

        :param overrides: as for :meth:`start_body`.
        :raises AssertionError: when the lab does not answer 200.
        """
        reply = self.test_client().post(
            self.url_for("weblab._start_session"),
            json=self.start_body(**overrides),
            headers=self.rlms_headers,
        )
        if reply.status_code != 200:
            raise AssertionError(reply.get_data(as_text=True))
        data: Any = reply.get_json()
        return str(data["session_id"])

    def status(self, session_id: str) -> int:
        """The raw WebLab-Deusto status call: the ``should_finish`` the lab answers."""
        reply = self.test_client().get(
            self.url_for("weblab._status", session_id=session_id), headers=self.rlms_headers
        )
        data: Any = reply.get_json()
        return int(data["should_finish"])

    def dispose(self, session_id: str) -> dict[str, Any]:
        """The raw WebLab-Deusto dispose call (once, no loop); return the reply's JSON."""
        reply = self.test_client().post(
            self.url_for("weblab._dispose_experiment", session_id=session_id),
            json={"action": "delete"},
            headers=self.rlms_headers,
        )
        data: Any = reply.get_json()
        return dict(data)

    def browser(self, session_id: str) -> FlaskClient:
        """The test client that followed the launch URL of ``session_id``.

        One per session and lab (with ``WEBLAB_LAUNCH_ONCE`` the launch URL logs in one
        browser only): asking again follows the launch URL again in that same client.

        :raises AssertionError: when the launch URL does not redirect into the lab.
        """
        client = self._browsers.setdefault(session_id, self.test_client())
        reply = client.get(self.url_for("weblab_callback_url", session_id=session_id))
        if reply.status_code != 302:
            raise AssertionError(reply.get_data(as_text=True))
        return client
