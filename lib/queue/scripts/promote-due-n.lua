--[[
  Moves due tasks from the delayed sets of many queues into their streams, in one call: the
  scheduler runs every 250 ms, and one call per queue would grow its work with the number of
  queues. Atomic, so several workers running the scheduler at once never move one task twice.
  Due is judged by Redis TIME: one clock for every worker, whatever their own clocks say.
  On a Redis Cluster each call gets the keys of one queue (one hash slot); on a single Redis,
  every queue's at once.
  KEYS[1+5(i-1)] .. KEYS[5+5(i-1)] for queue i: its index hash, its delayed set, then its
          high, normal and low priority streams
  ARGV[1] consumer group
  ARGV[2] maximum number of tasks to move, all queues together
  Returns: the ids of the moved tasks
]]
--#include redis-now-ms
--#include index-entry
local now = redisNowMs()
local limit = tonumber(ARGV[2])
local moved = {}
for q = 1, #KEYS, 5 do
  if #moved >= limit then break end
  local index, delayed = KEYS[q], KEYS[q + 1]
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit - #moved)
  local streams = { high = KEYS[q + 2], normal = KEYS[q + 3], low = KEYS[q + 4] }
  for _, taskId in ipairs(due) do
    redis.call('ZREM', delayed, taskId)
    local held = redis.call('HGET', index, taskId)
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
end
return moved
