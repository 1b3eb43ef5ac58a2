--[[
  Takes, for one attempt, a slot of every flow rule it falls under — all of them or none —
  so that across every worker at most `concurrency` attempts of a type or queue run at once
  and at most `ratePerSecond` start a second. Judged by Redis TIME, one clock for all.
  Concurrency slots are leases (sorted set scored by expiry) so a crashed holder frees its
  slot when its lease ends; rate rules are the shared token bucket (bucket.include.lua).
  A task refused by a full concurrency rule is written down in the rule's waiting set (by the
  time it first waited), so that whoever frees a slot wakes the task that has waited longest
  (release-flow-n.lua) instead of leaving the slot idle until the task looks again.
  KEYS[1..n]      one key per rule: a sorted set (concurrency) or a bucket hash (rate)
  KEYS[n+1..]     the waiting sets of the concurrency rules, in their order among the rules
  ARGV[1] holder: one acquisition of one attempt (not reused by another delivery of the task)
  ARGV[2] lease length in ms
  ARGV[3] waiter: how the task is woken ("queue|taskId|seq"), '' to be written down nowhere
  ARGV[4] how many tasks a waiting set holds at most: beyond it the latest is not written
          down (it still looks again by itself)
  ARGV[5] how many ms a task refused by a full concurrency rule waits before it looks again
  ARGV[6] n, the number of rules
  ARGV[4+3i], ARGV[5+3i], ARGV[6+3i] for rule i: kind ('c' or 'r'), then
          for 'c': max concurrent, unused; for 'r': tokens per second, burst
  Returns: {waitMs, nowMs}; waitMs = 0 when every slot was taken
]]
--#include bucket
-- A task still written down after this long (its worker died) is forgotten.
local WAITER_TTL_MS = 600000
local now = redisNowMs()
local holder = ARGV[1]
local lease = tonumber(ARGV[2])
local waiter = ARGV[3]
local maxWaiters = tonumber(ARGV[4])
local recheck = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local wait = 0
local full = {}
local waitingSet = {}
local c = 0
for i = 1, n do
  local key = KEYS[i]
  local kind = ARGV[4 + 3 * i]
  local a = tonumber(ARGV[5 + 3 * i])
  local b = tonumber(ARGV[6 + 3 * i])
  if kind == 'c' then
    c = c + 1
    waitingSet[i] = KEYS[n + c]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= a then
      -- Slots free when attempts end, which nobody can predict: look again soon (or sooner,
      -- when woken by the release of a slot).
      wait = math.max(wait, recheck)
      full[#full + 1] = i
    end
  else
    local allowed, _, retry = bucket(key, a, b, 0, now)
    if allowed == 0 then wait = math.max(wait, retry) end
  end
end
if wait > 0 then
  if waiter ~= '' then
    for _, i in ipairs(full) do
      local set = waitingSet[i]
      redis.call('ZADD', set, 'NX', now, waiter)
      redis.call('ZREMRANGEBYSCORE', set, '-inf', now - WAITER_TTL_MS)
      if redis.call('ZCARD', set) > maxWaiters then redis.call('ZPOPMAX', set) end
      redis.call('PEXPIRE', set, WAITER_TTL_MS)
    end
  end
  return { wait, now }
end
for i = 1, n do
  local key = KEYS[i]
  if ARGV[4 + 3 * i] == 'c' then
    redis.call('ZADD', key, now + lease, holder)
    redis.call('PEXPIRE', key, lease * 2)
    if waiter ~= '' then redis.call('ZREM', waitingSet[i], waiter) end
  else
    bucket(key, tonumber(ARGV[5 + 3 * i]), tonumber(ARGV[6 + 3 * i]), 1, now)
  end
end
return { 0, now }
