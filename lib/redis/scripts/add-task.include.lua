--[[
  Shared by enqueue-batch-3 and defer-4: adds a task under a seq.
  Stream entries carry t (task id), s (seq), y (type), k (concurrency key, '' for none); a
  task with a key may wait in its key's lane first (lanes.include.lua).
  Invariant: the index holds, per task, the seq of its one live message. An entry whose seq
  is not greater than the held one is ignored, so enqueueing is idempotent and a stale
  producer (an API that stalled between commit and XADD) cannot add a second live message.
  Due times are judged by Redis TIME, the one clock every worker shares.
  Within one script run nothing else runs, so its stream's group and the clock are looked at
  once per run, not once per task of a batch. Every key is of the task's queue: one hash slot.
  Returns 1 added to the stream, 2 added to the delayed set, 0 ignored.
]]
--#include redis-now-ms
--#include index-entry
--#include lanes
local registered = {}
local nowMs = nil

local function addTask(stream, delayed, index, group, taskId, seq, queue, priority, taskType, key, due)
  local held = heldSeq(index, taskId)
  if held and held >= seq then return 0 end
  redis.call('HSET', index, taskId, formatEntry(seq, queue, priority, taskType, key))
  if due > 0 then
    nowMs = nowMs or redisNowMs()
    if due > nowMs then
      redis.call('ZADD', delayed, due, taskId)
      return 2
    end
  end
  -- A task the index did not hold is in no delayed set (both are written together).
  if held then redis.call('ZREM', delayed, taskId) end
  if not registered[stream] then
    if redis.call('EXISTS', stream) == 0 then
      redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
    end
    registered[stream] = true
  end
  placeTask(stream, group, taskId, seq, taskType, key)
  return 1
end
