--[[
  The token bucket, by Redis's own clock (included by take-token-1, admit-3 and
  acquire-flow-n): the same computation as takeToken() in lib/ratelimit/token-bucket.ts, the
  one other copy (for processes without Redis) — keep the two equal.
  Invariant: 0 <= tokens <= burst. A missing bucket is full; the key expires once it would be.
  The bucket is a hash {t = tokens (fractional), at = ms of the last take}.
  cost 1 takes a token when at least one is there; cost 0 only looks and writes nothing.
  Returns allowed (1 or 0), whole tokens left, ms until one token when refused (else 0),
  ms until the bucket is full.
]]
--#include redis-now-ms
local function bucket(key, rate, burst, cost, now)
  local held = redis.call('HMGET', key, 't', 'at')
  local tokens = burst
  if held[1] and held[2] then
    local elapsed = math.max(0, now - tonumber(held[2]))
    tokens = math.min(burst, tonumber(held[1]) + elapsed * rate / 1000)
  end
  local allowed = 0
  local retry = math.ceil((1 - tokens) * 1000 / rate)
  if tokens >= 1 then
    allowed = 1
    retry = 0
    if cost > 0 then
      tokens = tokens - cost
      redis.call('HSET', key, 't', tostring(tokens), 'at', tostring(now))
      redis.call('PEXPIRE', key, math.ceil((burst - tokens) * 1000 / rate) + 1000)
    end
  end
  return allowed, math.floor(tokens), retry, math.ceil((burst - tokens) * 1000 / rate)
end
