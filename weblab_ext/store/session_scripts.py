"""Lua scripts for the atomic session transitions.

Each script runs as one Redis command, so no other client sees a half-done transition and
two processes racing on the same session cannot both win.
"""

from __future__ import annotations

from .records import pack_session_lua

# Every key a script touches is declared in KEYS (so each runs on the one Redis Cluster node
# that holds the lab's slot); session ids are passed in ARGV only as index members. A
# 'PUBLISH' becomes 'SPUBLISH' on a cluster (see pubsub.register_script).
_PACK = pack_session_lua()

# create_session(first): the session's part of every start script. KEYS[1] session hash,
# KEYS[2] by-deadline zset, KEYS[3] by-poll zset; ARGV[1] session id, ARGV[2] ttl seconds,
# ARGV[3] max_date, ARGV[4] last_poll, ARGV[first..] field, value, ... Writes the hash with
# its TTL and indexes it; the index sets live at least as long as their newest session.
CREATE_SESSION = """
local function create_session(first)
  local ttl = tonumber(ARGV[2])
  for i = first, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  for i = 2, 3 do
    if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
"""

# The member stored in the index sets is the session id; it is passed separately so the script
# does not have to parse key names.
# KEYS[1] session hash, KEYS[2] by-deadline zset, KEYS[3] by-poll zset
# ARGV[1] session id, ARGV[2] ttl seconds, ARGV[3] max_date, ARGV[4] last_poll,
# ARGV[5..] field, value, ...
START = (
    CREATE_SESSION
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
create_session(5)
return 1
"""
)

# KEYS[1] session hash, KEYS[2] by-poll zset
# ARGV[1] session id, ARGV[2] now, ARGV[3] "1" to record a poll, ARGV[4] "1" to return the
# record, ARGV[5] inactivity timeout in seconds (<= 0: none)
# Reads the session and, when it is active and not past its deadline (slot end, or silent for
# the timeout), records a poll: the single round trip of a lab request. A session past its
# deadline is over whether or not the cleaner ran, so a late request never revives it.
# Returns the packed record (see records.PACKED_SESSION_FIELDS), or false for an unknown
# session.
TOUCH = (
    _PACK
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'max_date', 'last_poll')
if not h[1] then return false end
if ARGV[3] == '1' and h[1] == 'active' then
  local now, timeout = tonumber(ARGV[2]), tonumber(ARGV[5])
  if now < tonumber(h[2] or 0) and (timeout <= 0 or now - tonumber(h[3] or 0) < timeout) then
    redis.call('HSET', KEYS[1], 'last_poll', ARGV[2])
    redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
  end
end
if ARGV[4] == '1' then return pack_session(KEYS[1]) end
return 1
"""
)

# KEYS[1..n] session hashes
# Reads what the RLMS status call needs of many sessions: state, max_date, last_poll of each
# key in order (state '' and times '0' when missing, so that every time parses as a number),
# all joined by <US> in one string. Built from one flat table: a concatenation per row would
# make Lua create (and intern) four strings per id.
STATUS_MANY = """
local call, out, n = redis.call, {}, 0
for i = 1, #KEYS do
  local h = call('HMGET', KEYS[i], 'state', 'max_date', 'last_poll')
  out[n + 1], out[n + 2], out[n + 3] = h[1] or '', h[2] or '0', h[3] or '0'
  n = n + 3
end
return table.concat(out, '\\31')
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

# KEYS[1] session hash, KEYS[2] by-poll zset
# ARGV[1] session id, ARGV[2] the last poll to record (now - timeout + grace)
# A page of an active session went away: closed, or reloaded (the two look alike). The
# session then counts as silent once the grace is over, unless it ends sooner anyway: its
# last poll moves back, never forward. A poll within the grace (the reloaded page's) records
# itself as usual (see TOUCH) and so cancels the close. Returns 1, or 0 when not active.
CLOSE = """
local h = redis.call('HMGET', KEYS[1], 'state', 'last_poll')
if h[1] ~= 'active' then return 0 end
if tonumber(ARGV[2]) < tonumber(h[2] or 0) then
  redis.call('HSET', KEYS[1], 'last_poll', ARGV[2])
  redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
end
return 1
"""

# KEYS[1] session hash
# ARGV[1] a one-shot field to set, or '' only to ask whether the session exists
# Sets a one-shot field (an expiry logged) of a session that still exists, atomically, so
# that of two callers racing on it (two status calls) exactly one is first. Never re-creates
# a record that expired (an HSET would, and without a TTL); the record keeps its TTL.
# Returns -1 (no such session), 1 (first to set it, or nothing to set) or 0 (set before).
FLAG_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[1] == '' then return 1 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
"""

# KEYS[1] session hash
# ARGV[1] the browser to record as the holder of the launch URL, or '' only to look
# The launch URL of a session that still exists: who used it first. Atomic, so that of two
# browsers racing on one launch URL exactly one holds it. Never re-creates a record that
# expired; the record keeps its TTL. Returns false (no such session), '' (unused until now;
# recorded now unless only looking) or the holder recorded first ('1' from older versions,
# which recorded only that it was used).
LAUNCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local holder = redis.call('HGET', KEYS[1], 'launched')
if holder then return holder end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'launched', ARGV[1]) end
return ''
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

# A disposal in progress stays in the by-deadline index, scored by the time after which it
# counts as abandoned (its disposer died): the cleaner then finds it due again and finishes
# it. FINISH_DISPOSE removes it.
_MARK_DISPOSING = """
local function mark_disposing(key, deadline_index, poll_index, sid, now, ttl, stale)
  redis.call('HSET', key, 'state', 'disposing', 'disposing_since', now)
  redis.call('EXPIRE', key, ttl)
  redis.call('ZADD', deadline_index, tonumber(now) + tonumber(stale), sid)
  redis.call('ZREM', poll_index, sid)
end
"""

# KEYS[1] session hash, KEYS[2] by-deadline zset, KEYS[3] by-poll zset
# ARGV[1] session id, ARGV[2] now, ARGV[3] inactivity timeout (<= 0: none),
# ARGV[4] "1" to dispose only if the session is due, ARGV[5] ttl while disposing,
# ARGV[6] seconds after which a disposal counts as abandoned
# Returns {outcome, packed record}: 'won' (this caller runs on_dispose, exactly once across
# threads and processes), 'disposing' or 'disposed' (someone else did), or {'not-due'} or
# {'missing'}. The record is the one read before the transition.
BEGIN_DISPOSE = (
    _PACK
    + _MARK_DISPOSING
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'missing'}
end
if state == 'disposing' or state == 'disposed' then
  return {state, pack_session(KEYS[1])}
end
if ARGV[4] == '1' and state == 'active' then
  local now = tonumber(ARGV[2])
  local timeout = tonumber(ARGV[3])
  local max_date = tonumber(redis.call('HGET', KEYS[1], 'max_date'))
  local last_poll = tonumber(redis.call('HGET', KEYS[1], 'last_poll'))
  local due = now >= max_date or (timeout > 0 and now - last_poll >= timeout)
  if not due then return {'not-due'} end
end
local record = pack_session(KEYS[1])
mark_disposing(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[5], ARGV[6])
return {'won', record}
"""
)

# KEYS[1] by-deadline zset, KEYS[2] by-poll zset, then for each candidate i (from 1):
# KEYS[1 + 2i] its session hash, KEYS[2 + 2i] its session tasks set
# ARGV[1] now, ARGV[2] inactivity timeout (<= 0: none), ARGV[3] ttl while disposing,
# ARGV[4] seconds after which a disposal counts as abandoned, ARGV[4 + i] candidate ids
# The cleaner's claim of a batch of due sessions, atomically, so that cleaners of several
# processes share the work without a lock: each claimed session is this caller's alone.
# Returns {kind, id, packed record, has tasks ('1'/'0'), ...}: kind 'won' (run on_dispose)
# or 'abandoned' (a disposal whose disposer died: finish it). Candidates that are not due,
# taken by another cleaner, or gone are skipped (and dropped from the indexes when gone).
CLAIM_DUE = (
    _PACK
    + _MARK_DISPOSING
    + """
local now, timeout = tonumber(ARGV[1]), tonumber(ARGV[2])
local claimed = {}
for i = 1, #ARGV - 4 do
  local sid, key, tasks = ARGV[4 + i], KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local h = redis.call('HMGET', key, 'state', 'max_date', 'last_poll', 'disposing_since')
  local state, kind = h[1], nil
  if state == 'active' then
    local due = now >= tonumber(h[2] or 0) or (timeout > 0 and now - tonumber(h[3] or 0) >= timeout)
    if due then kind = 'won' end
  elseif state == 'exited' then
    kind = 'won'
  elseif state == 'disposing' then
    redis.call('ZREM', KEYS[2], sid)
    if now >= tonumber(h[4] or 0) + tonumber(ARGV[4]) then kind = 'abandoned' end
  else
    redis.call('ZREM', KEYS[1], sid)
    redis.call('ZREM', KEYS[2], sid)
  end
  if kind then
    local has_tasks = tostring(redis.call('EXISTS', tasks))
    table.insert(claimed, kind)
    table.insert(claimed, sid)
    table.insert(claimed, pack_session(key))
    table.insert(claimed, has_tasks)
    mark_disposing(key, KEYS[1], KEYS[2], sid, ARGV[1], ARGV[3], ARGV[4])
  end
end
return claimed
"""
)

# KEYS[1] session hash, KEYS[2] by-deadline zset
# ARGV[1] ttl of the expired record, ARGV[2] session id, ARGV[3] events channel,
# ARGV[4] the "disposed" event (JSON)
# Ends a disposal: the record stays readable as an expired user for ARGV[1] seconds, and
# push layers hear that the session ended. Returns 0 when the session was not disposing.
FINISH_DISPOSE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'disposing' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'disposed')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

# KEYS[1] actions hash of a session
# ARGV[1] action id, ARGV[2] action JSON, ARGV[3] ttl seconds
# Writes one action; the hash lives ARGV[3] seconds after its last write.
STORE_ACTION = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
