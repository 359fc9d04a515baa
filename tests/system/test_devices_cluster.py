"""A device pool on a real Redis Cluster: every script of the pool declares its keys, and all
keys of a lab share its hash tag, so the pool works unchanged there."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.support.lab import AUTH, Lab
from weblab_ext.testing.harness import LabUnderTest

pytestmark = pytest.mark.slow


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    """Overrides the suite's ``store_url``: this module's labs run on the cluster."""
    return str(request.getfixturevalue("redis_cluster").url)


def test_a_pool_on_a_cluster(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"])
    assert str(lab.state.settings.redis_url).startswith("redis+cluster://")
    under_test = LabUnderTest(lab.app)
    one = under_test.start(device="board-1").session_id
    two = under_test.start(under_test.rlms("ldl", device="board-2")).session_id
    busy = lab.raw_rlms.post(
        "/devices/board-1/weblab/sessions/", json=lab.start_body(), headers=AUTH
    )
    assert busy.status_code == 409
    assert under_test.rlms(device="board-2").status(one) == -1
    assert under_test.rlms(device="board-1").status(one) > 0
    multiple = lab.raw_rlms.post(
        "/devices/board-2/weblab/sessions/status/multiple",
        json={"session_ids": [one, two]},
        headers=AUTH,
    ).json["status"]
    assert multiple[one] == -1 and multiple[two] > 0
    assert [row.name for row in lab.state.devices.overview() if row.session_key] == [
        "board-1",
        "board-2",
    ]
    assert lab.state.service.clean_expired(now=time.time() + 10_000) == 2
    assert sorted(lab.disposed) == sorted([one, two])
    assert under_test.start(device="board-1").session_id
