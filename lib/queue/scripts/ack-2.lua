--[[
  Acknowledges and deletes a message, and forgets its task if the message is still the
  task's live one (its seq is the held seq).
  Invariant: called only after the task's state is in the database, by the worker whose
  fenced write succeeded (XACK takes no consumer name; the caller's fencing is the check).
  KEYS[1] stream
  KEYS[2] index hash
  ARGV[1] consumer group
  ARGV[2] entry id
  ARGV[3] task id
  ARGV[4] seq of the message
  Returns: 1 acknowledged, 0 it was not pending
]]
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
local held = redis.call('HGET', KEYS[2], ARGV[3])
if held and tonumber(string.match(held, '^(%d+)|')) == tonumber(ARGV[4]) then
  redis.call('HDEL', KEYS[2], ARGV[3])
end
return acked
