--[[
  Heartbeat: resets the idle time of messages a consumer is still working on, so that the
  recoverer of another worker does not take a long task away from a live one. Only messages
  the consumer still owns are touched: XCLAIM alone would steal back a message another worker
  already took over.
  KEYS[1] stream
  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3..n] entry ids
  Returns: the ids the consumer no longer owns
]]
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
  else
    lost[#lost + 1] = id
  end
end
return lost
