--[[
  Takes over messages of one stream that have been idle for at least a given time (their
  worker crashed or froze), and reports how often each has now been delivered so that a
  message that keeps killing its worker can be dead-lettered.
  XAUTOCLAIM scans at most COUNT*10 pending entries per call: the caller loops on the cursor.
  KEYS[1] stream
  ARGV[1] consumer group
  ARGV[2] consumer taking the messages
  ARGV[3] minimum idle time in ms
  ARGV[4] cursor ('0-0' to start)
  ARGV[5] maximum number of messages
  Returns: {nextCursor, {entryId, taskId, seq, type, deliveries, ...}, {ids deleted from the stream}}
]]
local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, entry in ipairs(res[2]) do
  if entry and entry ~= false then
    local id = entry[1]
    local fields = entry[2]
    local taskId, seq, taskType = '', '0', ''
    if fields then
      for j = 1, #fields, 2 do
        local f = fields[j]
        if f == 't' then taskId = fields[j + 1] elseif f == 's' then seq = fields[j + 1]
        elseif f == 'y' then taskType = fields[j + 1] end
      end
    end
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local deliveries = 1
    if p[1] then deliveries = p[1][4] end
    out[#out + 1] = id
    out[#out + 1] = taskId
    out[#out + 1] = seq
    out[#out + 1] = taskType
    out[#out + 1] = deliveries
  end
end
return { res[1], out, res[3] or {} }
