"""Helpers shared by the test modules (test modules never import each other).

- ``lab``: the suite's lab under test (the shipped harness with the suite's hooks), the RLMS
  credentials and the base configuration; ``real_redis_only``.
- ``paths``: where the checkout's folders are.
- ``clock``: a clock to inject (``now=``) instead of sleeping.
- ``redis_server``, ``redis_cluster``: real redis-server processes (one server, a Cluster,
  a Sentinel set) on 127.0.0.1.
- ``round_trips``: counting the Redis round trips of a request.
- ``rlms_stub``: a recording stub lab for the RLMS client tests.
- ``rlms_api``: start bodies and checks for the RLMS endpoint tests.
- ``admin``: the admin page and metrics (credentials, tokens, parsing).
- ``examples``: loading and serving the example labs.
- ``socketio``: lab apps with Socket.IO handlers, with and without push.
- ``workers``: ``flask weblab loop`` worker processes for one lab.
- ``cli``: running ``flask weblab`` commands.
- ``screenshots``: numbered screenshots of the browser tests.
"""
