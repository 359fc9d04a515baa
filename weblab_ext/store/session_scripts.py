"""Lua scripts for the atomic session transitions.

Each script runs as one Redis command, so no other client sees a half-done transition and
two processes racing on the same session cannot both win.
"""

from __future__ import annotations

# The member stored in the index sets is the session id; it is passed separately so the script
# does not have to parse key names.
# KEYS[1] session hash, KEYS[2] by-deadline zset, KEYS[3] by-poll zset
# ARGV[1] session id, ARGV[2] ttl seconds, ARGV[3] max_date, ARGV[4] last_poll,
# ARGV[5..] field, value, ...
START = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[2])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
for i = 2, 3 do
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
"""

# KEYS[1] session hash, KEYS[2] by-poll zset
# ARGV[1] session id, ARGV[2] now, ARGV[3] "1" to record a poll, ARGV[4] "1" to return the
# record, ARGV[5] inactivity timeout in seconds (<= 0: none)
# Reads the session and, when it is active and not past its deadline (slot end, or silent for
# the timeout), records a poll: the single round trip of a lab request. A session past its
# deadline is over whether or not the cleaner ran, so a late request never revives it.
# Returns false for an unknown session.
TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[3] == '1' then
  local h = redis.call('HMGET', KEYS[1], 'state', 'max_date', 'last_poll')
  local now = tonumber(ARGV[2])
  local timeout = tonumber(ARGV[5])
  if h[1] == 'active' and now < tonumber(h[2])
      and (timeout <= 0 or now - tonumber(h[3]) < timeout) then
    redis.call('HSET', KEYS[1], 'last_poll', ARGV[2])
    redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
  end
end
if ARGV[4] == '1' then return redis.call('HGETALL', KEYS[1]) end
return 1
"""

# KEYS[1] session hash, KEYS[2] by-deadline zset
# ARGV[1] session id
# Marks an active session as exited and makes it due for the cleaner at once.
LOGOUT = """
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'exited', 'exited', '1')
redis.call('ZADD', KEYS[2], 'XX', 0, ARGV[1])
return 1
"""

# KEYS[1] session hash
# ARGV[1] "1" to mark the launch URL as used
# Whether a session exists and, when asked, marks its launch URL as used, atomically, so
# that of two browsers racing on one launch URL exactly one is first. Creates nothing for an
# unknown session. Returns -1 (no such session), 1 (first to use it, or not asked) or 0
# (used before).
LAUNCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[1] ~= '1' then return 1 end
return redis.call('HSETNX', KEYS[1], 'launched', '1')
"""

# KEYS[1] session hash
# ARGV[1] data as JSON
# Writes the user data of a session that still exists (never re-creates a gone record).
# Returns the new data version, or false when the session is gone.
STORE_DATA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'data', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'data_version', 1)
"""

# KEYS[1] session hash, KEYS[2] by-deadline zset, KEYS[3] by-poll zset
# ARGV[1] session id, ARGV[2] now, ARGV[3] inactivity timeout (<= 0: none),
# ARGV[4] "1" to dispose only if the session is due, ARGV[5] ttl while disposing
# Returns {outcome, field, value, ...}: 'won' (this caller runs on_dispose, exactly once
# across threads and processes), 'not-due', 'disposing', 'disposed' or 'missing'.
BEGIN_DISPOSE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'missing'}
end
if state == 'disposing' or state == 'disposed' then
  local result = redis.call('HGETALL', KEYS[1])
  table.insert(result, 1, state)
  return result
end
if ARGV[4] == '1' and state == 'active' then
  local now = tonumber(ARGV[2])
  local timeout = tonumber(ARGV[3])
  local max_date = tonumber(redis.call('HGET', KEYS[1], 'max_date'))
  local last_poll = tonumber(redis.call('HGET', KEYS[1], 'last_poll'))
  local due = now >= max_date or (timeout > 0 and now - last_poll >= timeout)
  if not due then return {'not-due'} end
end
local result = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'disposing', 'disposing_since', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
table.insert(result, 1, 'won')
return result
"""

# KEYS[1] session hash
# ARGV[1] ttl of the expired record
# Ends a disposal: the record stays readable as an expired user for ARGV[1] seconds.
FINISH_DISPOSE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'disposing' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'disposed')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""
