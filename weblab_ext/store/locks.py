"""Locks with an owner: ``SET NX PX`` to take, compare-and-delete to release.

Shared by the cleaner lock (sessions) and the unique-task locks (tasks).
"""

from __future__ import annotations

# KEYS[1] lock key
# ARGV[1] owner token
# Compare-and-delete: only the owner releases a lock, never a process that merely saw it.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
