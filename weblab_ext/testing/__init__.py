"""Testing helpers for lab authors: the pytest plugin and fixtures.

Layering rule: this package may use every other layer; nothing in the library imports it.
"""
