--[[
  Deletes the dead-letter records of tasks that left the dead-letter queue: replayed,
  discarded, or pruned by retention. A task without a record (never dead, trimmed by MAXLEN,
  removed before) is skipped.
  KEYS[1] dead-letter stream of one queue
  KEYS[2] hash of the same queue: task id -> its entry id in the dead-letter stream
  ARGV    task ids
  Returns: how many records were deleted from the stream
]]
local removed = 0
for i = 1, #ARGV do
  local id = redis.call('HGET', KEYS[2], ARGV[i])
  if id then
    removed = removed + redis.call('XDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return removed
