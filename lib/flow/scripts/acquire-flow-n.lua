--[[
  Takes, for one attempt, a slot of every flow rule it falls under — all of them or none —
  so that across every worker at most `concurrency` attempts of a type or queue run at once
  and at most `ratePerSecond` start a second. Judged by Redis TIME, one clock for all.
  Concurrency slots are leases (sorted set scored by expiry) so a crashed holder frees its
  slot when its lease ends; rate rules are the shared token bucket (bucket.include.lua).
  KEYS[1..n] one key per rule: a sorted set (concurrency) or a bucket hash (rate)
  ARGV[1] holder: one acquisition of one attempt (not reused by another delivery of the task)
  ARGV[2] lease length in ms
  ARGV[3*i], ARGV[3*i+1], ARGV[3*i+2] for rule i: kind ('c' or 'r'), then
          for 'c': max concurrent, unused; for 'r': tokens per second, burst
  Returns: {waitMs, nowMs}; waitMs = 0 when every slot was taken
]]
--#include bucket
local now = redisNowMs()
local holder = ARGV[1]
local lease = tonumber(ARGV[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local kind = ARGV[3 * i]
  local a = tonumber(ARGV[3 * i + 1])
  local b = tonumber(ARGV[3 * i + 2])
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= a then
      -- Slots free when attempts end, which nobody can predict: look again soon.
      wait = math.max(wait, 200)
    end
  else
    local allowed, _, retry = bucket(key, a, b, 0, now)
    if allowed == 0 then wait = math.max(wait, retry) end
  end
end
if wait > 0 then return { wait, now } end
for i, key in ipairs(KEYS) do
  if ARGV[3 * i] == 'c' then
    redis.call('ZADD', key, now + lease, holder)
    redis.call('PEXPIRE', key, lease * 2)
  else
    bucket(key, tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2]), 1, now)
  end
end
return { 0, now }
