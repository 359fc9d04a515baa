"""The tests the testing guide (docs/testing.md) shows, as one runnable file."""

import pytest

from weblab_ext.rlms import ResourceBroken


def test_lab_page(student):
    assert student.get("/lab").status_code == 200
    assert student.status() > 0
    student.logout()
    assert student.status() == -1
    assert student.dispose().finished


@pytest.mark.weblab_profiles  # once per RLMS profile
def test_session(student, rlms_profile):
    assert student.get("/lab").status_code == 200
    assert student.status() > 0
    assert student.dispose().finished


@pytest.mark.weblab_profiles("ldl", "wld-2017")  # some, by name or alias
def test_some(student):
    assert student.get("/lab").status_code == 200


@pytest.mark.weblab_eager_tasks
def test_blink(student):
    task_id = student.post("/light/on").json["task"]
    assert student.get(f"/task/{task_id}").json == {"done": True, "result": 6}


def test_blink_when_asked(weblab_lab, student):
    task_id = student.post("/light/on").json["task"]
    assert student.get(f"/task/{task_id}").json["done"] is False
    assert weblab_lab.run_tasks() == 1
    assert student.get(f"/task/{task_id}").json["done"] is True


def test_timeout(weblab_lab):
    clock = [1_700_000_000.0]
    weblab_lab.state.clock = lambda: clock[0]
    rlms = weblab_lab.rlms(now=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    student = weblab_lab.student(rlms, slot_length=600)
    trace = rlms.run_status_loop(student.session_id, max_calls=20)
    assert trace.reason == "dispose"  # WEBLAB_TIMEOUT without polls


def test_maintenance_as_the_rlms_sees_it(weblab_lab, student):
    rlms, operator = student.rlms, weblab_lab.app.test_cli_runner()
    operator.invoke(args=["weblab", "maintenance", "on", "--message", "New camera"])
    reading = rlms.health()  # GET /weblab/health, without credentials
    assert (reading.success, reading.message) == (False, "New camera")
    with pytest.raises(ResourceBroken):
        rlms.start(username="bob")  # no new student is sent there...
    assert student.status() > 0  # ...and the one in session keeps the slot
    operator.invoke(args=["weblab", "maintenance", "off"])
    assert rlms.health().success
    assert rlms.start(username="bob").session_id
