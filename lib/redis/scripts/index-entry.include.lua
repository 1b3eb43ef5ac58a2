--[[
  The index hash holds, per task, "seq|queue|priority|type|key" of its one live message (key:
  its concurrency key, empty when none; entries written before keys existed end at type).
  heldSeq answers the seq the index holds for a task (nil when none); parseEntry splits an
  entry; forgetIfHeldAtMost drops the task when the held seq is not newer than `seq` (a
  newer message of the task is someone else's and stays).
]]
local function heldSeq(index, taskId)
  local held = redis.call('HGET', index, taskId)
  if not held then return nil end
  return tonumber(string.match(held, '^(%d+)|'))
end

local function parseEntry(held)
  local seq, queue, priority, taskType, key = string.match(held, '^(%d+)|([^|]*)|(%a+)|?([^|]*)|?(.*)$')
  return tonumber(seq), queue, priority, taskType, key or ''
end

local function formatEntry(seq, queue, priority, taskType, key)
  return seq .. '|' .. queue .. '|' .. priority .. '|' .. taskType .. '|' .. key
end

local function forgetIfHeldAtMost(index, taskId, seq)
  local held = heldSeq(index, taskId)
  if held and held <= seq then
    redis.call('HDEL', index, taskId)
    return true
  end
  return false
end
