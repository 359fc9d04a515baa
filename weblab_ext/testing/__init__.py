"""Testing helpers for lab authors: the pytest plugin and fixtures.

- ``harness``: the lab under test, its in-process RLMS client and students.
- ``raw``: raw RLMS requests, for what an RLMS client would never send.
- ``pytest_plugin``: the fixtures and markers built on them.

Layering rule: this package may use every other layer; nothing in the library imports it.

* :mod:`.pytest_plugin` — the fixtures (``weblab_config``, ``lab``...);
* :mod:`.harness` — ``LabUnderTest`` and the helpers behind them.
"""
