"""The exceptions that mean the lab's store did not answer, for the layers above the runtime.

Runtime layer. Views, commands and Socket.IO handlers catch these to answer "the store is
unavailable" instead of failing; they never import the store layer themselves.
"""

from __future__ import annotations

from ..store.connection import ANY_STORE_ERROR as ANY_STORE_ERROR
from ..store.connection import STORE_ERRORS as STORE_ERRORS
