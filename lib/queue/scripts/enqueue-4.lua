--[[
  Adds one task to its queue: to its stream when due, else to the queue's delayed set.
  KEYS[1] stream of the task's queue and priority
  KEYS[2] delayed set of the task's queue (score: due time, ms since epoch)
  KEYS[3] index hash: task id -> "seq|queue|priority|type"
  KEYS[4] set of queue names
  ARGV[1] consumer group
  ARGV[2] task id
  ARGV[3] seq
  ARGV[4] queue name
  ARGV[5] priority (high, normal, low)
  ARGV[6] task type
  ARGV[7] due time in ms since epoch, 0 for now
  Returns: 1 added to the stream, 2 added to the delayed set, 0 ignored (seq not newer)
]]
return addTask(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5],
  ARGV[6], tonumber(ARGV[7]))
