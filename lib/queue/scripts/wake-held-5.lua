--[[
  Wakes what a flow limit held back (postpone-2.lua) now that a slot of the limit is free: a
  task waiting in the delayed set goes to its stream (skipped when the index no longer holds
  it under that seq: it started, was cancelled, queued again); a key's lane, whose front task
  was held back, is fed again from now (lanes.include.lua).
  KEYS[1] the queue's index hash
  KEYS[2] its delayed set
  KEYS[3] its high priority stream
  KEYS[4] its normal priority stream
  KEYS[5] its low priority stream
  ARGV[1] consumer group
  ARGV[3k-1..3k+1] per thing to wake: 't', task id, seq; or 'l', priority, concurrency key
  Returns: the number of things woken
]]
--#include index-entry
--#include lanes
local streams = { high = KEYS[3], normal = KEYS[4], low = KEYS[5] }
local woken = 0
for k = 2, #ARGV, 3 do
  if ARGV[k] == 'l' then
    local stream = streams[ARGV[k + 1]]
    if stream then
      local _, _, _, _, _, after = laneKeys(stream)
      woken = woken + redis.call('HDEL', after, ARGV[k + 2])
      -- The key may have been due already, its stream's readers asleep: prime it either way.
      if redis.call('EXISTS', stream) == 1 then primeStream(stream, ARGV[1]) end
    end
  else
    local taskId, seq = ARGV[k + 1], tonumber(ARGV[k + 2])
    local held = redis.call('HGET', KEYS[1], taskId)
    if held then
      local heldSeq, _, priority, taskType, key = parseEntry(held)
      local stream = priority and streams[priority]
      if heldSeq == seq and stream and redis.call('ZREM', KEYS[2], taskId) == 1 then
        if redis.call('EXISTS', stream) == 0 then
          redis.call('XGROUP', 'CREATE', stream, ARGV[1], '0', 'MKSTREAM')
        end
        placeTask(stream, ARGV[1], taskId, seq, taskType, key)
        woken = woken + 1
      end
    end
  end
end
return woken
