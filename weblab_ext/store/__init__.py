"""Store layer: every Redis key, script and transition of weblab_ext.

Layering rule: this package talks to Redis through redis-py only. It never imports Flask,
nor anything from the Flask layer (``extension``, ``views``, ``decorators``, ``cli``).
:mod:`.devices` holds the declared devices (``WEBLAB_DEVICES``) and which session holds each.
"""
