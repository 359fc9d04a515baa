"""Helpers of the metrics, admin-page and ``flask weblab status`` tests: the admin
credentials, a scrape parsed with ``prometheus_client.parser``, the admin page's action token,
and sessions in each state."""

from __future__ import annotations

import base64
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.lab import Lab

ADMIN_USER = "operator"
ADMIN_PASSWORD = "op-s3cret"  # short on purpose: tests run with TESTING, where it is allowed
ADMIN = {"WEBLAB_ADMIN_USERNAME": ADMIN_USER, "WEBLAB_ADMIN_PASSWORD": ADMIN_PASSWORD}
ADMIN_AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
}

#: A sample: its name and its labels, sorted.
Key = tuple[str, tuple[tuple[str, str], ...]]


def parse_metrics(text: str) -> dict[Key, float]:
    """Every sample of a scrape: ``{(name, ((label, value), ...)): value}``."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict[Key, float], name: str, **labels: str) -> float:
    """One sample's value (``KeyError`` when it is not in the scrape)."""
    return samples[(name, tuple(sorted(labels.items())))]


def scrape(client: Any, path: str = "/weblab/metrics") -> dict[Key, float]:
    """GET the metrics as Prometheus does and parse them."""
    reply = client.get(path, headers=ADMIN_AUTH)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.content_type.startswith("text/plain; version=0.0.4")
    return parse_metrics(reply.get_data(as_text=True))


def page_token(html: str) -> str:
    """The action token the admin page gives its forms."""
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found is not None, "no action token on the admin page"
    return found.group(1)


def row_keys(html: str, field: str) -> list[str]:
    """The hashes the page's forms send for ``field`` (``session`` or ``task``)."""
    return re.findall(rf'name="{field}" value="([0-9a-f]{{16}})"', html)


def sessions_in_each_state(lab: Lab) -> dict[str, str]:
    """Two active sessions, one logged out, one being disposed and one disposed."""
    ids = {
        name: lab.start_raw(server={"request.username": name})
        for name in ("ana", "bob", "carla", "dora", "emil")
    }
    lab.browser(ids["carla"]).get(f"/callback/{ids['carla']}/logout")
    outcome, _ = lab.state.sessions.begin_dispose(
        ids["dora"], now=lab.state.clock(), timeout=0, only_if_due=False
    )
    assert outcome == "won"  # and its on_dispose still running: disposing
    assert lab.dispose(ids["emil"])["message"] == "Deleted"
    return ids
