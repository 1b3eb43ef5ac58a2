--[[
  Everything an authenticated API request asks Redis, in one round trip: is the client
  address blocked for failed authentications (a look: nothing written), is the presented
  token's hash marked revoked, and — only when neither — one token from the user's bucket.
  The buckets are bucket.include.lua's.
  KEYS[1] the address's failed-authentication bucket
  KEYS[2] the token hash's revocation mark
  KEYS[3] the user's bucket
  ARGV[1], ARGV[2] the address bucket's rate and burst
  ARGV[3], ARGV[4] the user bucket's rate and burst
  Returns: {addressAllowed, addressRemaining, addressRetryMs, addressResetMs, revoked (1 or 0),
            userAllowed, userRemaining, userRetryMs, userResetMs} (user fields -1 when not taken)
]]
--#include bucket
local now = redisNowMs()

local a1, a2, a3, a4 = bucket(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 0, now)
if a1 == 0 then return {a1, a2, a3, a4, 0, -1, -1, -1, -1} end
local revoked = redis.call('EXISTS', KEYS[2])
if revoked == 1 then return {a1, a2, a3, a4, 1, -1, -1, -1, -1} end
local u1, u2, u3, u4 = bucket(KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]), 1, now)
return {a1, a2, a3, a4, 0, u1, u2, u3, u4}
