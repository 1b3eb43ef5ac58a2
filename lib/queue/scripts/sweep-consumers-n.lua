--[[
  Removes, from the group of each stream, the consumers that hold no message and have been
  idle for at least a given time: the names of workers that crashed (a clean stop leaves by
  itself). Removing a consumer drops its pending entries, so the check and the removal are
  one step; a live worker's name comes back with its next read anyway.
  KEYS[1..n] streams (of one queue on a Redis Cluster: one hash slot; of every queue on a single Redis)
  ARGV[1] consumer group
  ARGV[2] minimum idle time in ms
  Returns: the names removed (a name removed from several streams appears once per stream)
]]
local removed = {}
local minIdle = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local consumers = redis.pcall('XINFO', 'CONSUMERS', key, ARGV[1])
    if not (type(consumers) == 'table' and consumers.err) then
      for _, c in ipairs(consumers) do
        local name, pending, idle = nil, 0, 0
        for j = 1, #c, 2 do
          if c[j] == 'name' then name = c[j + 1]
          elseif c[j] == 'pending' then pending = tonumber(c[j + 1])
          elseif c[j] == 'idle' then idle = tonumber(c[j + 1]) end
        end
        if name and pending == 0 and idle >= minIdle then
          redis.call('XGROUP', 'DELCONSUMER', key, ARGV[1], name)
          removed[#removed + 1] = name
        end
      end
    end
  end
end
return removed
