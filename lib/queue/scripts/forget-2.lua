--[[
  Forgets a task that will never start (cancelled or discarded): removes it from its
  queue's delayed set and from the index. A message already in a stream stays; the worker
  that receives it finds the task ended and drops it.
  KEYS[1] delayed set of the task's queue
  KEYS[2] index hash
  ARGV[1] task id
  ARGV[2] seq the database holds for the task
  Returns: 1 if the task was known, 0 if not
]]
local held = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if held and tonumber(string.match(held, '^(%d+)|')) <= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
