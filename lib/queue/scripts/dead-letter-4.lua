--[[
  Moves a task that died to the dead-letter stream: acknowledges its message (if one was
  delivered), forgets the task, appends a record with its payload and last error, and notes
  the record's entry id under the task id, so that a replay, a discard or the pruner can
  delete exactly that record later (remove-dead-letters-2.lua).
  Invariant: called only after the task's row says `dead`.
  KEYS[1] stream of the delivered message (any key of the queue when there is none)
  KEYS[2] index hash of the queue
  KEYS[3] dead-letter stream of the queue
  KEYS[4] hash of the queue: task id -> its entry id in the dead-letter stream
  ARGV[1] consumer group
  ARGV[2] entry id, or '' when no message was delivered
  ARGV[3] task id
  ARGV[4] seq
  ARGV[5] approximate maximum length of the dead-letter stream
  ARGV[6] type, ARGV[7] queue, ARGV[8] payload (JSON), ARGV[9] error (JSON), ARGV[10] attempts
  Returns: the id of the dead-letter entry
]]
--#include index-entry
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
forgetIfHeldAtMost(KEYS[2], ARGV[3], tonumber(ARGV[4]))
-- A task that died before, was replayed and died again has one record: the newest.
local previous = redis.call('HGET', KEYS[4], ARGV[3])
if previous then redis.call('XDEL', KEYS[3], previous) end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'task', ARGV[3], 'type', ARGV[6], 'queue', ARGV[7],
  'payload', ARGV[8], 'error', ARGV[9], 'attempts', ARGV[10])
redis.call('HSET', KEYS[4], ARGV[3], id)
return id
