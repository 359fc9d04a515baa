"""Tests of the quickstart's lab (docs/quickstart.md), as the testing guide shows them."""

import pytest


def test_lab_page(student):
    assert "<h1>Hello john</h1>" in student.get("/lab").get_data(as_text=True)
    assert student.status() > 0  # the RLMS hears the session goes on


def test_presses_are_counted(student):
    student.post("/press")  # no CSRF token needed: the plugin turns the check off
    student.post("/press")
    assert student.user().data == {"presses": 2}


@pytest.mark.weblab_eager_tasks
def test_measure(student):
    task_id = student.post("/measure").json["task_id"]
    reply = student.get(f"/measure/{task_id}").json
    assert reply["status"] == "done"
    assert reply["result"] == {"average": 2.0}


def test_leaving_ends_the_session(student):
    student.post("/leave")
    assert student.status() == -1
    assert student.dispose().finished
