--[[
  Takes a token from a token bucket by Redis's own clock (TIME), in one script, so every API
  replica shares the bucket and none can slip between another's read and write. The same
  computation as takeToken() in token-bucket.ts: keep the two equal.
  Invariant: 0 <= tokens <= burst. A missing bucket is full; the key expires once it would be.
  KEYS[1] the bucket: hash {t = tokens (fractional), at = ms of the last take}
  ARGV[1] rate: tokens added per second (> 0)
  ARGV[2] burst: most tokens held (>= 1)
  ARGV[3] cost: 1 takes a token when at least one is there; 0 only looks and writes nothing
  Returns: {allowed (1 or 0), whole tokens left, ms until one token when refused (else 0),
            ms until the bucket is full}
]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 't', 'at')
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
    redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
    redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
  end
end
return {allowed, math.floor(tokens), retry, math.ceil((burst - tokens) * 1000 / rate)}
