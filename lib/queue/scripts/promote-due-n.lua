--[[
  Moves due tasks from the delayed sets of many queues into their streams, in one call: the
  scheduler runs every 250 ms, and one call per queue would grow its work with the number of
  queues. Atomic, so several workers running the scheduler at once never move one task twice.
  Due is judged by Redis TIME: one clock for every worker, whatever their own clocks say.
  Each queue's streams with work only in their fair-sharing lanes get one task fed
  (lanes.include.lua), which wakes a reader blocked on them.
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
--#include lanes
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
      local seq, _, priority, taskType, key = parseEntry(held)
      local stream = priority and streams[priority]
      if stream then
        if redis.call('EXISTS', stream) == 0 then
          redis.call('XGROUP', 'CREATE', stream, ARGV[1], '0', 'MKSTREAM')
        end
        placeTask(stream, ARGV[1], taskId, seq, taskType, key)
        moved[#moved + 1] = taskId
      end
    end
  end
  -- Lanes whose front task was held back by a flow limit are looked at again here too, so a
  -- reader blocked on an empty stream learns of them within a tick.
  for _, stream in pairs(streams) do
    if redis.call('EXISTS', stream) == 1 then
      local ring = laneKeys(stream)
      if redis.call('LLEN', ring) > 0 then primeStream(stream, ARGV[1]) end
    end
  end
end
return moved
