--[[
  Forgets a task that will never start (cancelled or discarded): removes it from its
  queue's delayed set and from the index. A message already in a stream stays; the worker
  that receives it finds the task ended and drops it.
  KEYS[1] delayed set of the task's queue
  KEYS[2] index hash of the queue
  ARGV[1] task id
  ARGV[2] seq the database holds for the task
  Returns: 1 if the task was known, 0 if not
]]
--#include index-entry
redis.call('ZREM', KEYS[1], ARGV[1])
if forgetIfHeldAtMost(KEYS[2], ARGV[1], tonumber(ARGV[2])) then return 1 end
return 0
