--[[
  Moves due tasks of one queue from its delayed set into its streams. Atomic, so several
  workers running the scheduler at once never move one task twice. Due is judged by Redis
  TIME: one clock for every worker, whatever their own clocks say.
  KEYS[1] delayed set of the queue
  KEYS[2] index hash
  KEYS[3] stream of the queue's high priority
  KEYS[4] stream of the queue's normal priority
  KEYS[5] stream of the queue's low priority
  ARGV[1] consumer group
  ARGV[2] maximum number of tasks to move
  Returns: the ids of the moved tasks
]]
--#include redis-now-ms
--#include index-entry
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', redisNowMs(), 'LIMIT', 0, tonumber(ARGV[2]))
local streams = { high = KEYS[3], normal = KEYS[4], low = KEYS[5] }
local moved = {}
for _, taskId in ipairs(due) do
  redis.call('ZREM', KEYS[1], taskId)
  local held = redis.call('HGET', KEYS[2], taskId)
  if held then
    local seq, _, priority, taskType = parseEntry(held)
    local stream = priority and streams[priority]
    if stream then
      if redis.call('EXISTS', stream) == 0 then
        redis.call('XGROUP', 'CREATE', stream, ARGV[1], '0', 'MKSTREAM')
      end
      redis.call('XADD', stream, '*', 't', taskId, 's', seq, 'y', taskType)
      moved[#moved + 1] = taskId
    end
  end
end
return moved
