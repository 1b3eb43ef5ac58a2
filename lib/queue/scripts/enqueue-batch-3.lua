--[[
  Adds tasks of one queue and priority: each to the stream when due, else to the queue's
  delayed set; a seq not newer than the one the index holds is ignored (idempotent). One
  script run for a whole batch submission, or for concurrent single submissions coalesced
  together.
  KEYS[1] stream of the queue and priority
  KEYS[2] delayed set of the queue
  KEYS[3] index hash of the queue
  The queue's name is registered (SADD to the set of queue names) by the caller beside this
  call: that set has no queue's hash slot.
  ARGV[1] consumer group
  ARGV[2] queue name
  ARGV[3] priority
  ARGV[4+5i] .. ARGV[8+5i] task id, seq, type, concurrency key ('' for none) and due time (ms,
          0 for now)
  Returns: how many tasks were added (to the stream or the delayed set)
]]
--#include add-task
local added = 0
for i = 4, #ARGV, 5 do
  local r = addTask(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[i], tonumber(ARGV[i + 1]), ARGV[2], ARGV[3],
    ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]))
  if r > 0 then added = added + 1 end
end
return added
