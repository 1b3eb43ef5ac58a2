--[[
  Gives back an attempt's concurrency slots (the rate tokens it spent stay spent), and for
  each slot it gave back takes the task that has waited longest for it off the rule's waiting
  set (acquire-flow-n.lua): the caller wakes those tasks, so a freed slot does not stay idle.
  KEYS[1..n/2]    concurrency sorted sets of the attempt's rules
  KEYS[n/2+1..n]  their waiting sets, in the same order
  ARGV[1] holder
  ARGV[2] '1' to take waiters off, '0' to only give the slots back
  Returns: the waiters to wake ("queue|taskId|seq")
]]
local half = #KEYS / 2
local woken = {}
for i = 1, half do
  if redis.call('ZREM', KEYS[i], ARGV[1]) == 1 and ARGV[2] == '1' then
    local next = redis.call('ZPOPMIN', KEYS[half + i])
    if next[1] then woken[#woken + 1] = next[1] end
  end
end
return woken
