--[[
  Puts a delivered message back to wait, without a new seq and without touching the
  database: a task held back by a flow limit (a concurrency or rate limit of its type or
  queue) is not failed and spends no attempt. It returns to its stream through the delayed
  set (promote-due-n), under the seq the index still holds.
  KEYS[1] stream of the delivered message
  KEYS[2] delayed set of the task's queue
  ARGV[1] consumer group
  ARGV[2] entry id
  ARGV[3] task id
  ARGV[4] when to try again, ms since epoch (by Redis TIME)
  ARGV[5] the seq the message carries
  ARGV[6] its concurrency key ('' for none)
  A task with a concurrency key waits at the front of its key's lane instead
  (lanes.include.lua), so that it keeps its key's turn.
  Returns: 1
]]
--#include lanes
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[6] ~= '' then
  holdInLane(KEYS[1], ARGV[3], ARGV[5], ARGV[6], ARGV[4])
  primeStream(KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
return 1
