--[[
  Moves due tasks from the delayed sets of many queues into their streams, in one call: the
  scheduler runs every 250 ms, and one call per queue would grow its work with the number of
  queues. Atomic, so several workers running the scheduler at once never move one task twice.
  Due is judged by Redis TIME: one clock for every worker, whatever their own clocks say.
  All keys of one call share a hash slot (the caller groups queues by slot).
  KEYS[1] index hash
  KEYS[2+4(i-1)] .. KEYS[5+4(i-1)] for queue i: its delayed set, then its high, normal and
          low priority streams
  ARGV[1] consumer group
  ARGV[2] maximum number of tasks to move, all queues together
  Returns: the ids of the moved tasks
]]
--#include redis-now-ms
--#include index-entry
local now = redisNowMs()
local limit = tonumber(ARGV[2])
local moved = {}
for q = 2, #KEYS, 4 do
  if #moved >= limit then break end
  local due = redis.call('ZRANGEBYSCORE', KEYS[q], '-inf', now, 'LIMIT', 0, limit - #moved)
  local streams = { high = KEYS[q + 1], normal = KEYS[q + 2], low = KEYS[q + 3] }
  for _, taskId in ipairs(due) do
    redis.call('ZREM', KEYS[q], taskId)
    local held = redis.call('HGET', KEYS[1], taskId)
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
