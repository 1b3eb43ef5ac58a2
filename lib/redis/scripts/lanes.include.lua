--[[
  Fair sharing inside a queue (shared by add-task, promote-due-n and read-prioritized-n).
  A task with a concurrency key does not go straight to its stream when work already waits
  there or in the lanes: it waits at the end of its key's lane. Readers feed the stream from
  the lanes one task per key in turn, so a key with a backlog of thousands holds back another
  key's task by no more than a turn of the ring.
  Keys of a stream `{prefix:queue}:stream:<priority>`, all in the queue's hash slot:
    {prefix:queue}:ring:<priority>         list of the keys whose lane is not empty
    {prefix:queue}:lane:<priority>:<key>   list of "taskId|seq", oldest first
    {prefix:queue}:laned                   hash priority -> tasks in lanes (for stats)
    {prefix:queue}:after:<priority>        hash key -> ms before which its lane is not fed
                                           (its front task was held back by a flow limit)
    {prefix:queue}:index                   the index (a lane entry is live when it holds its seq)
]]
--#include index-entry
--#include redis-now-ms
local function laneKeys(stream)
  local base, priority = string.match(stream, '^(.*):stream:(%a+)$')
  return base .. ':ring:' .. priority, base .. ':lane:' .. priority .. ':', base .. ':laned', priority,
    base .. ':index', base .. ':after:' .. priority
end

-- Puts a task held back by a flow limit at the front of its key's lane, its lane not fed
-- before `notBefore`: it keeps its key's turn instead of going behind every other task.
local function holdInLane(stream, taskId, seq, key, notBefore)
  local ring, lanePrefix, laned, priority, _, after = laneKeys(stream)
  if redis.call('LPUSH', lanePrefix .. key, taskId .. '|' .. seq) == 1 then redis.call('RPUSH', ring, key) end
  redis.call('HINCRBY', laned, priority, 1)
  redis.call('HSET', after, key, notBefore)
end

-- Undelivered entries of each stream, looked up once per script run and counted on.
local backlog = {}
local function streamBacklog(stream, group)
  if backlog[stream] == nil then
    local length = redis.call('XLEN', stream)
    local pending = 0
    if length > 0 then
      local groups = redis.pcall('XINFO', 'GROUPS', stream)
      if type(groups) == 'table' and not groups.err then
        for _, g in ipairs(groups) do
          local name, held = nil, 0
          for j = 1, #g, 2 do
            if g[j] == 'name' then name = g[j + 1] elseif g[j] == 'pending' then held = g[j + 1] end
          end
          if name == group then pending = held end
        end
      end
    end
    backlog[stream] = length - pending
  end
  return backlog[stream]
end

local feedLanes

-- Keeps one task in the stream while the lanes hold work: a reader blocked on the stream
-- wakes, and its read feeds the rest in turn.
local function primeStream(stream, group)
  if streamBacklog(stream, group) == 0 and feedLanes(stream, 1) > 0 then
    backlog[stream] = backlog[stream] + 1
  end
end

-- Adds a task to its stream, or to its key's lane when work waits (see above).
local function placeTask(stream, group, taskId, seq, taskType, key)
  if key ~= '' then
    local ring, lanePrefix, laned, priority = laneKeys(stream)
    if redis.call('LLEN', ring) > 0 or streamBacklog(stream, group) > 0 then
      if redis.call('RPUSH', lanePrefix .. key, taskId .. '|' .. seq) == 1 then
        redis.call('RPUSH', ring, key)
      end
      redis.call('HINCRBY', laned, priority, 1)
      primeStream(stream, group)
      return
    end
  end
  redis.call('XADD', stream, '*', 't', taskId, 's', seq, 'y', taskType, 'k', key)
  if backlog[stream] then backlog[stream] = backlog[stream] + 1 end
end

-- Moves up to n tasks from the lanes into the stream, one per key in turn; a lane entry
-- whose task the index no longer holds under that seq (cancelled, queued again) is dropped.
feedLanes = function(stream, n)
  local ring, lanePrefix, laned, priority, index, after = laneKeys(stream)
  local fed, tries = 0, 0
  local now = nil
  local held = redis.call('HLEN', after) > 0
  while fed < n and tries < n * 4 + 16 do
    tries = tries + 1
    local key = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')
    if not key then break end
    local wait = held and redis.call('HGET', after, key)
    if wait then
      now = now or redisNowMs()
      if tonumber(wait) <= now then redis.call('HDEL', after, key) end
    end
    local lane = lanePrefix .. key
    local item = nil
    if not wait or tonumber(wait) <= now then item = redis.call('LPOP', lane) end
    if redis.call('LLEN', lane) == 0 then redis.call('LREM', ring, -1, key) end
    if item then
      redis.call('HINCRBY', laned, priority, -1)
      local taskId, seq = string.match(item, '^(.*)|(%d+)$')
      local held = redis.call('HGET', index, taskId)
      if held then
        local heldSeq, _, _, taskType = parseEntry(held)
        if heldSeq == tonumber(seq) then
          redis.call('XADD', stream, '*', 't', taskId, 's', seq, 'y', taskType, 'k', key)
          fed = fed + 1
        end
      end
    end
  end
  return fed
end
