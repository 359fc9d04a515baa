"""Lua scripts for the atomic task transitions.

Each script runs as one Redis command, so a task is never seen half-submitted, half-claimed
or half-finished, and two workers (or a worker and a reaper) racing on one task cannot both
win. A task hash names its unique lock in the field ``lock``. Every key a script touches is
declared in KEYS, so each script runs on the one Redis Cluster node that holds the lab's slot:
callers pass the lock key they know (from the record); a script that finds the hash naming
another lock changes nothing and answers ``{'lock?', <lock key>}``, and the caller calls it
again with that key. A ``'PUBLISH'`` becomes ``'SPUBLISH'`` on a cluster (pubsub.register_script).

Task hash fields: ``name``, ``session_id``, ``args``, ``kwargs`` (JSON), ``status``
(``submitted | running | done | failed``), ``stopping`` (``0``/``1``), ``data``, ``result``,
``error`` (JSON, empty when unset), ``lock`` (unique lock key or empty), ``worker``,
``submitted_at``, ``started_at``, ``finished_at``, ``lease_until`` (epoch seconds).

Leases fence the workers: a task belongs to the worker named in ``worker`` only until
``lease_until`` (kept in the hash, so every read can judge it, and in the leases sorted set,
so sweeps find lapsed ones without scanning). Once it has passed, the lease is lost for good:
the owner's heartbeat no longer renews it, its late data and result are refused, and whoever
sees it first fails the task as ``worker-lost``.
"""

from __future__ import annotations

# The lease of a running task: its hash field, or (records written before the field existed)
# its score in the leases zset; nil when neither is known.
_LEASE = """
local function lease_of(key, leases, tid)
  local lease = tonumber(redis.call('HGET', key, 'lease_until') or '')
  if lease then return lease end
  return tonumber(redis.call('ZSCORE', leases, tid) or '')
end
"""

# Gives a key a TTL of at least ARG seconds (never shortens a longer one).
_KEEP = """
local function keep(key, ttl)
  if redis.call('TTL', key) < tonumber(ttl) then redis.call('EXPIRE', key, ttl) end
end
"""

# Builds the JSON progress/completion event of a task. Strings go through cjson.encode;
# data/result/error are already JSON text and are spliced in as they are, so lists and
# floats keep their exact form.
_EVENT = """
local function task_event(key, tid, status, extra_name, extra_json)
  local h = redis.call('HMGET', key, 'session_id', 'name', 'data')
  local data = h[3]
  if not data or data == '' then data = '{}' end
  local text = '{"task_id":' .. cjson.encode(tid) .. ',"session_id":' ..
    cjson.encode(h[1] or '') .. ',"name":' .. cjson.encode(h[2] or '') ..
    ',"status":' .. cjson.encode(status) .. ',"data":' .. data
  if extra_name ~= '' then text = text .. ',"' .. extra_name .. '":' .. extra_json end
  return text .. '}'
end
"""

# KEYS[1] task hash, KEYS[2] session tasks set, KEYS[3] queue, KEYS[4] done list,
# KEYS[5] unique lock (only for unique tasks)
# ARGV[1] task id, ARGV[2] ttl seconds, ARGV[3] lock ttl ms, ARGV[4] '1' to refuse a duplicate
# without recording it, ARGV[5] duplicate error JSON, ARGV[6] now, ARGV[7] progress channel,
# ARGV[8..] field, value, ...
# Records the task and queues it: 1. A unique task whose lock is held elsewhere is recorded
# as already failed (0) or, with ARGV[4] = '1', not recorded at all (-1).
SUBMIT = (
    _EVENT
    + _KEEP
    + """
local ttl = tonumber(ARGV[2])
local duplicate = false
if #KEYS >= 5 then
  if not redis.call('SET', KEYS[5], ARGV[1], 'NX', 'PX', ARGV[3]) then
    if ARGV[4] == '1' then return -1 end
    duplicate = true
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
if duplicate then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[5], 'finished_at', ARGV[6])
  redis.call('LPUSH', KEYS[4], '1')
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('PUBLISH', ARGV[7], task_event(KEYS[1], ARGV[1], 'failed', 'error', ARGV[5]))
  return 0
end
redis.call('LPUSH', KEYS[3], ARGV[1])
keep(KEYS[3], ttl)
return 1
"""
)

# KEYS[1] task hash, KEYS[2] worker processing list, KEYS[3] leases zset, KEYS[4] done list,
# KEYS[5] the task's unique lock (when it has one)
# ARGV[1] task id, ARGV[2] worker id, ARGV[3] now, ARGV[4] lease expiry, ARGV[5] lock ttl ms,
# ARGV[6] task ttl seconds, ARGV[7] duplicate error JSON (__TASK_NAME__ is replaced by the
# task name), ARGV[8] progress channel
# Claims a submitted task for a worker: first claimer wins. Returns the hash (flat list), or
# {'duplicate'} when its unique lock is held by another task (the task is then failed), or
# false when the task is not claimable (gone, already claimed or finished), or
# {'lock?', lock key} when KEYS[5] is not the task's lock (then nothing changed).
CLAIM = (
    _EVENT
    + _KEEP
    + """
local lock = redis.call('HGET', KEYS[1], 'lock')
if lock and lock ~= '' and lock ~= KEYS[5] then return {'lock?', lock} end
redis.call('LREM', KEYS[2], 1, ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then keep(KEYS[2], ARGV[6]) end
if redis.call('HGET', KEYS[1], 'status') ~= 'submitted' then return false end
if lock and lock ~= '' then
  local owner = redis.call('GET', KEYS[5])
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[5], ARGV[5])
  elseif not owner then
    redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[5])
  else
    local name = redis.call('HGET', KEYS[1], 'name') or ''
    local err = string.gsub(ARGV[7], '__TASK_NAME__', name)
    redis.call('HSET', KEYS[1], 'status', 'failed', 'error', err, 'finished_at', ARGV[3])
    redis.call('EXPIRE', KEYS[1], ARGV[6])
    redis.call('LPUSH', KEYS[4], '1')
    redis.call('EXPIRE', KEYS[4], ARGV[6])
    redis.call('PUBLISH', ARGV[8], task_event(KEYS[1], ARGV[1], 'failed', 'error', err))
    return {'duplicate'}
  end
end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[2], 'started_at', ARGV[3],
           'lease_until', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
keep(KEYS[3], ARGV[6])
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS[1] task hash, KEYS[2] leases zset, KEYS[3] done list, KEYS[4] session tasks set,
# KEYS[5] the task's unique lock (when it has one)
# ARGV[1] task id, ARGV[2] mode: 'owner' (ARGV[3] is the worker id that must hold the task on
# a lease still valid at ARGV[9]), 'lapsed' (ARGV[3] is now: the lease must have expired) or
# 'queued' (the task must not have started: its session ended first; a worker skips it),
# ARGV[4] status done|failed,
# ARGV[5] result JSON, ARGV[6] error JSON, ARGV[7] data JSON ('' keeps the stored data),
# ARGV[8] ttl seconds, ARGV[9] now, ARGV[10] progress channel
# Finishes a running task once: frees its unique lock (only if this task owns it), wakes its
# joiners (a token in the done list that stays until the record expires) and publishes the
# completion. Returns 1, 0 when someone else finished it first (or the owner's lease
# lapsed), or {'lock?', lock key} when KEYS[5] is not the task's lock (then nothing changed).
FINISH = (
    _EVENT
    + _LEASE
    + """
local h = redis.call('HMGET', KEYS[1], 'status', 'worker', 'lock')
if h[3] and h[3] ~= '' and h[3] ~= KEYS[5] then return {'lock?', h[3]} end
if ARGV[2] == 'queued' then
  if h[1] ~= 'submitted' then return 0 end
else
  if h[1] ~= 'running' then return 0 end
  local lease = lease_of(KEYS[1], KEYS[2], ARGV[1])
  if ARGV[2] == 'owner' then
    if h[2] ~= ARGV[3] then return 0 end
    if lease and lease <= tonumber(ARGV[9]) then return 0 end
  elseif lease and lease > tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'result', ARGV[5], 'error', ARGV[6],
           'finished_at', ARGV[9])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'data', ARGV[7]) end
redis.call('ZREM', KEYS[2], ARGV[1])
if h[3] and h[3] ~= '' and redis.call('GET', KEYS[5]) == ARGV[1] then redis.call('DEL', KEYS[5]) end
local ttl = tonumber(ARGV[8])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('LPUSH', KEYS[3], '1')
redis.call('EXPIRE', KEYS[3], ttl)
if redis.call('TTL', KEYS[4]) < ttl then redis.call('EXPIRE', KEYS[4], ttl) end
local event
if ARGV[4] == 'done' then
  event = task_event(KEYS[1], ARGV[1], 'done', 'result', ARGV[5])
else
  event = task_event(KEYS[1], ARGV[1], 'failed', 'error', ARGV[6])
end
redis.call('PUBLISH', ARGV[10], event)
return 1
"""
)

# KEYS[1] task hash, KEYS[2] leases zset
# ARGV[1] task id, ARGV[2] data JSON, ARGV[3] progress channel, ARGV[4] worker id that must
# hold the task, ARGV[5] now
# Stores the data of a running task and publishes it as progress. Returns 1, or 0 when the
# task is not running (finished or reaped) or no longer this worker's on a valid lease (a
# worker paused past its lease): nothing is written or re-created.
STORE_DATA = (
    _EVENT
    + _LEASE
    + """
local h = redis.call('HMGET', KEYS[1], 'status', 'worker')
if h[1] ~= 'running' or h[2] ~= ARGV[4] then return 0 end
local lease = lease_of(KEYS[1], KEYS[2], ARGV[1])
if lease and lease <= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
redis.call('PUBLISH', ARGV[3], task_event(KEYS[1], ARGV[1], 'running', '', ''))
return 1
"""
)

# KEYS[1] task hash
# ARGV[1] task id, ARGV[2] stops channel
# Sets the durable stop flag of an existing task and tells the workers. Returns 1, or 0 for
# an unknown task.
STOP = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
redis.call('HSET', KEYS[1], 'stopping', '1')
if status == 'submitted' or status == 'running' then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return 1
"""

# The tail of a heartbeat and of a sweep (KEYS[1] leases zset, KEYS[2] workers zset, ARGV[1]
# now): ids of tasks whose lease lapsed, and of worker processes that stopped beating. Dead
# workers are removed here, so exactly one sweeper requeues what they had taken.
_SWEEP = """
local function sweep()
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 20)
  for _, wid in ipairs(dead) do redis.call('ZREM', KEYS[2], wid) end
  return lapsed, dead
end
"""

# KEYS[1] leases zset, KEYS[2] workers zset, KEYS[3] worker info hash, KEYS[4] processing list
# of this worker, KEYS[5..4+n] hashes of the n tasks this worker process runs, then their
# unique locks
# ARGV[1] now, ARGV[2] lease expiry, ARGV[3] worker id, ARGV[4] info ttl seconds,
# ARGV[5] task ttl seconds, ARGV[6] lock ttl ms, ARGV[7] info JSON, then per task (in the
# order of KEYS[5..]) its id and the KEYS index of its lock (0: none)
# One heartbeat of a worker process: renews its registration, the leases, TTLs and unique
# locks of its running tasks, and reports what needs attention. A lease that already lapsed
# is not renewed: the task is lost (its worker was paused or cut off for longer than the
# lease) and reported so. Returns {stopping ids, lost ids (no longer ours), lapsed lease ids,
# dead worker ids}.
HEARTBEAT = (
    _KEEP
    + _LEASE
    + _SWEEP
    + """
local now = tonumber(ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
keep(KEYS[2], math.max(tonumber(ARGV[4]), tonumber(ARGV[5])))
redis.call('HSET', KEYS[3], 'info', ARGV[7], 'beat', ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[4])
if redis.call('EXISTS', KEYS[4]) == 1 then keep(KEYS[4], ARGV[5]) end
local stopping, lost = {}, {}
local tasks = (#ARGV - 7) / 2
for t = 1, tasks do
  local key, tid, li = KEYS[4 + t], ARGV[6 + 2 * t], tonumber(ARGV[7 + 2 * t])
  local h = redis.call('HMGET', key, 'status', 'worker', 'stopping', 'lock')
  local lease = lease_of(key, KEYS[1], tid)
  if h[1] == 'running' and h[2] == ARGV[3] and (not lease or lease > now) then
    redis.call('ZADD', KEYS[1], ARGV[2], tid)
    redis.call('HSET', key, 'lease_until', ARGV[2])
    redis.call('EXPIRE', key, ARGV[5])
    if li > 0 and h[4] == KEYS[li] and redis.call('GET', KEYS[li]) == tid then
      redis.call('PEXPIRE', KEYS[li], ARGV[6])
    end
    if h[3] == '1' then table.insert(stopping, tid) end
  else
    table.insert(lost, tid)
  end
end
if tasks > 0 then keep(KEYS[1], ARGV[5]) end
local lapsed, dead = sweep()
return {stopping, lost, lapsed, dead}
"""
)

# KEYS[1] leases zset, KEYS[2] workers zset
# ARGV[1] now
# What a cleaner in any process (no worker needed) looks for: {lapsed lease ids, dead worker
# ids}; dead workers are removed from the registry.
SWEEP = (
    _SWEEP
    + """
local lapsed, dead = sweep()
return {lapsed, dead}
"""
)

# KEYS[1] processing list of a worker process, KEYS[2] queue
# ARGV[1] queue ttl seconds
# Puts back what a dead (or stopping) worker took from the queue but never claimed.
# Returns how many ids were moved.
REQUEUE = (
    _KEEP
    + """
local moved = 0
while redis.call('RPOPLPUSH', KEYS[1], KEYS[2]) do moved = moved + 1 end
if moved > 0 then keep(KEYS[2], ARGV[1]) end
return moved
"""
)
