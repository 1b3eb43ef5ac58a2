--[[
  Gives back an attempt's concurrency slots (the rate tokens it spent stay spent).
  KEYS[1..n] concurrency sorted sets of the attempt's rules
  ARGV[1] holder (the task id)
  Returns: number of slots released
]]
local n = 0
for _, key in ipairs(KEYS) do n = n + redis.call('ZREM', key, ARGV[1]) end
return n
