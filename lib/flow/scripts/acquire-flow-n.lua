--[[
  Takes, for one attempt, a slot of every flow rule it falls under — all of them or none —
  so that across every worker at most `concurrency` attempts of a type or queue run at once
  and at most `ratePerSecond` start a second. Judged by Redis TIME, one clock for all.
  Concurrency slots are leases (sorted set scored by expiry) so a crashed holder frees its
  slot when its lease ends; rate rules are token buckets refilled continuously.
  KEYS[1..n] one key per rule: a sorted set (concurrency) or a hash {tokens, ts} (rate)
  ARGV[1] holder (the task id)
  ARGV[2] lease length in ms
  ARGV[3*i], ARGV[3*i+1], ARGV[3*i+2] for rule i: kind ('c' or 'r'), then
          for 'c': max concurrent, unused; for 'r': tokens per second, burst
  Returns: {waitMs, nowMs}; waitMs = 0 when every slot was taken
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = ARGV[1]
local lease = tonumber(ARGV[2])
local wait = 0
local buckets = {}
for i, key in ipairs(KEYS) do
  local kind = ARGV[3 * i]
  local a = tonumber(ARGV[3 * i + 1])
  local b = tonumber(ARGV[3 * i + 2])
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if not redis.call('ZSCORE', key, holder) and redis.call('ZCARD', key) >= a then
      -- Slots free when attempts end, which nobody can predict: look again soon.
      wait = math.max(wait, 200)
    end
  else
    local state = redis.call('HMGET', key, 'tokens', 'ts')
    local tokens = tonumber(state[1]) or b
    local ts = tonumber(state[2]) or now
    tokens = math.min(b, tokens + math.max(0, now - ts) * a / 1000)
    buckets[i] = tokens
    if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) * 1000 / a)) end
  end
end
if wait > 0 then return { wait, now } end
for i, key in ipairs(KEYS) do
  if ARGV[3 * i] == 'c' then
    redis.call('ZADD', key, now + lease, holder)
    redis.call('PEXPIRE', key, lease * 2)
  else
    local a = tonumber(ARGV[3 * i + 1])
    local b = tonumber(ARGV[3 * i + 2])
    redis.call('HSET', key, 'tokens', buckets[i] - 1, 'ts', now)
    redis.call('PEXPIRE', key, math.ceil(b * 1000 / a) + 1000)
  end
end
return { 0, now }
