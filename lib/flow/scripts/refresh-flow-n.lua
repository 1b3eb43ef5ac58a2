--[[
  Extends the concurrency slots of attempts still running, so a long attempt keeps its slot
  while a crashed worker's slots expire with their lease. A slot that is gone (it expired
  while its worker was paused, or Redis lost it) is given back: the attempt is running, so
  it counts against the limit whatever the set said, and others must wait for it.
  KEYS[1..n] concurrency sorted sets
  ARGV[1] lease length in ms
  ARGV[1+i] holder whose slot in KEYS[i] is extended
  Returns: number of slots given back (they had been lost)
]]
--#include redis-now-ms
local now = redisNowMs()
local lease = tonumber(ARGV[1])
local n = 0
for i, key in ipairs(KEYS) do
  n = n + redis.call('ZADD', key, now + lease, ARGV[1 + i])
  redis.call('PEXPIRE', key, lease * 2)
end
return n
