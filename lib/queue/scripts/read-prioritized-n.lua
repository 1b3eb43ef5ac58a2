--[[
  Delivers up to COUNT new messages to a consumer, taking the streams in the order given
  (all high-priority streams first, then normal, then low), so that under a backlog higher
  priorities start first. Never blocks: the caller blocks with XREADGROUP when this is empty.
  A stream that runs out is fed from its queue's fair-sharing lanes (lanes.include.lua) and
  read again.
  KEYS[1..n] streams, highest priority first (of one queue on a Redis Cluster: one hash slot;
            of every queue on a single Redis)
  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3] maximum number of messages
  Returns: a flat list {keyIndex, entryId, taskId, seq, type, concurrencyKey, keyIndex, ...}
  A stream that exists without the group (the group was lost) gets the group created from
  its start and is read on the next call.
]]
--#include lanes
local remaining = tonumber(ARGV[3])
local out = {}

-- Reads what the stream holds for the consumer; false when its group had to be created.
local function readStream(i, key)
  local res = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', remaining, 'STREAMS', key, '>')
  if type(res) == 'table' and res.err then
    if string.find(res.err, 'NOGROUP') then
      redis.pcall('XGROUP', 'CREATE', key, ARGV[1], '0')
      return false
    end
    error(redis.error_reply(res.err))
  end
  if res then
    for _, entry in ipairs(res[1][2]) do
      local fields = entry[2]
      local taskId, seq, taskType, concurrencyKey = '', '0', '', ''
      for j = 1, #fields, 2 do
        local f = fields[j]
        if f == 't' then taskId = fields[j + 1] elseif f == 's' then seq = fields[j + 1]
        elseif f == 'y' then taskType = fields[j + 1] elseif f == 'k' then concurrencyKey = fields[j + 1] end
      end
      out[#out + 1] = i
      out[#out + 1] = entry[1]
      out[#out + 1] = taskId
      out[#out + 1] = seq
      out[#out + 1] = taskType
      out[#out + 1] = concurrencyKey
      remaining = remaining - 1
    end
  end
  return true
end

for i, key in ipairs(KEYS) do
  if remaining <= 0 then break end
  if redis.call('EXISTS', key) == 1 and readStream(i, key) and remaining > 0 then
    if feedLanes(key, remaining) > 0 then readStream(i, key) end
  end
end
return out
