"""Testing helpers for lab authors: the pytest plugin and fixtures.

Layering rule: this package may use every other layer; nothing in the library imports it.

* :mod:`.pytest_plugin` — the fixtures (``weblab_config``, ``lab``...);
* :mod:`.harness` — ``LabUnderTest`` and the helpers behind them.
"""
