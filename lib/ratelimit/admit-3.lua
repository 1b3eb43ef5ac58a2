--[[
  Everything an authenticated API request asks Redis, in one round trip: is the client
  address blocked for failed authentications (a look: nothing written), is the presented
  token's hash marked revoked, and — only when neither — one token from the user's bucket.
  The bucket arithmetic is take-token-1.lua's (and token-bucket.ts's): keep them equal.
  KEYS[1] the address's failed-authentication bucket
  KEYS[2] the token hash's revocation mark
  KEYS[3] the user's bucket
  ARGV[1], ARGV[2] the address bucket's rate and burst
  ARGV[3], ARGV[4] the user bucket's rate and burst
  Returns: {addressAllowed, addressRemaining, addressRetryMs, addressResetMs, revoked (1 or 0),
            userAllowed, userRemaining, userRetryMs, userResetMs} (user fields -1 when not taken)
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function bucket(key, rate, burst, cost)
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

local a1, a2, a3, a4 = bucket(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 0)
if a1 == 0 then return {a1, a2, a3, a4, 0, -1, -1, -1, -1} end
local revoked = redis.call('EXISTS', KEYS[2])
if revoked == 1 then return {a1, a2, a3, a4, 1, -1, -1, -1, -1} end
local u1, u2, u3, u4 = bucket(KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]), 1)
return {a1, a2, a3, a4, 0, u1, u2, u3, u4}
