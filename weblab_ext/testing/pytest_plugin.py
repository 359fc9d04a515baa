"""pytest plugin of weblab_ext (registered through the ``pytest11`` entry point).

The fixtures for lab authors are added by the lab-author tooling work; this module must
exist so that installing weblab_ext never breaks a pytest run.
"""
