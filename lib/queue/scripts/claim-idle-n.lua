--[[
  Takes over messages idle for at least a given time (their worker crashed or froze) from
  many streams in one call, and reports how often each has now been delivered so that a
  message that keeps killing its worker can be dead-lettered. One call per recoverer pass,
  whatever the number of queues. XAUTOCLAIM scans at most COUNT*10 pending entries per call:
  each stream's cursor is followed, within a bound of rounds per call.
  KEYS[1..n] streams (of one queue on a Redis Cluster: one hash slot; of every queue on a single Redis)
  ARGV[1] consumer group
  ARGV[2] consumer taking the messages
  ARGV[3] minimum idle time in ms
  ARGV[4] maximum number of messages, all streams together
  ARGV[5] most XAUTOCLAIM rounds per stream
  Returns: a flat list {keyIndex, entryId, taskId, seq, type, concurrencyKey, deliveries, ...}
  A stream without the group (never read yet, or lost) is skipped.
]]
local wanted = tonumber(ARGV[4])
local rounds = tonumber(ARGV[5])
local out = {}
local taken = 0
for i, key in ipairs(KEYS) do
  if taken >= wanted then break end
  if redis.call('EXISTS', key) == 1 then
    local cursor = '0-0'
    for _ = 1, rounds do
      local res = redis.pcall('XAUTOCLAIM', key, ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', wanted - taken)
      if type(res) == 'table' and res.err then break end
      for _, entry in ipairs(res[2]) do
        if entry and entry ~= false then
          local id, fields = entry[1], entry[2]
          local taskId, seq, taskType, concurrencyKey = '', '0', '', ''
          if fields then
            for j = 1, #fields, 2 do
              local f = fields[j]
              if f == 't' then taskId = fields[j + 1] elseif f == 's' then seq = fields[j + 1]
              elseif f == 'y' then taskType = fields[j + 1] elseif f == 'k' then concurrencyKey = fields[j + 1] end
            end
          end
          local p = redis.call('XPENDING', key, ARGV[1], id, id, 1)
          local deliveries = 1
          if p[1] then deliveries = p[1][4] end
          out[#out + 1] = i
          out[#out + 1] = id
          out[#out + 1] = taskId
          out[#out + 1] = seq
          out[#out + 1] = taskType
          out[#out + 1] = concurrencyKey
          out[#out + 1] = deliveries
          taken = taken + 1
        end
      end
      cursor = res[1]
      if cursor == '0-0' or taken >= wanted then break end
    end
  end
end
return out
