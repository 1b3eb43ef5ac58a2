--[[
  Removes a consumer from the group of one stream when it holds no pending message: a worker
  that stops cleanly leaves, so the group lists workers, not every worker that ever ran.
  Removing a consumer drops its pending entries, so the check and the removal are one step.
  KEYS[1] stream
  ARGV[1] consumer group
  ARGV[2] consumer
  Returns: 1 removed, 0 kept (it still holds messages), -1 no such stream or group
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(pending) == 'table' and pending.err then return -1 end
if #pending > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
