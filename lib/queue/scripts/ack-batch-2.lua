--[[
  Acknowledges and deletes messages of one stream, and forgets each one's task if the
  message is still the task's live one (its seq is the held seq). Workers acknowledge in
  batches under load: one round trip and one script run instead of one per message.
  Invariant: called only after each task's state is in the database, by the worker whose
  fenced write succeeded (XACK takes no consumer name; the caller's fencing is the check).
  KEYS[1] stream
  KEYS[2] index hash of the queue
  ARGV[1] consumer group
  ARGV[2+3i], ARGV[3+3i], ARGV[4+3i] entry id, task id and seq of message i
  Returns: number of entries acknowledged
]]
--#include index-entry
local acked = 0
for i = 2, #ARGV, 3 do
  local id, taskId, seq = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  forgetIfHeldAtMost(KEYS[2], taskId, seq)
end
return acked
