--[[
  Extends the concurrency slots of attempts still running, so a long attempt keeps its slot
  while a crashed worker's slots expire with their lease.
  KEYS[1..n] concurrency sorted sets
  ARGV[1] lease length in ms
  ARGV[1+i] holder whose slot in KEYS[i] is extended (only if it still has one)
  Returns: number of slots extended
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local n = 0
for i, key in ipairs(KEYS) do
  n = n + redis.call('ZADD', key, 'XX', 'CH', now + lease, ARGV[1 + i])
  redis.call('PEXPIRE', key, lease * 2)
end
return n
