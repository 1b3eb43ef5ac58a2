--[[
  Acknowledges and deletes a delivered message, and adds its task again under a new seq:
  delayed when due later (a retry), else at the end of its stream (a message that arrived
  before its due time by the database's clock). One script, so the task is never in
  neither place nor in both.
  KEYS[1] stream of the delivered message
  KEYS[2] delayed set of the task's queue
  KEYS[3] index hash of the queue
  KEYS[4] stream the task goes back to (the same queue: all four keys share its hash slot)
  ARGV[1] consumer group
  ARGV[2] delivered entry id
  ARGV[3] task id
  ARGV[4] new seq
  ARGV[5] queue name
  ARGV[6] priority
  ARGV[7] task type
  ARGV[8] due time in ms since epoch
  ARGV[9] concurrency key ('' for none)
  Returns: 1 back in the stream, 2 delayed, 0 ignored (seq not newer; the message is acked anyway)
]]
--#include add-task
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return addTask(KEYS[4], KEYS[2], KEYS[3], ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6],
  ARGV[7], ARGV[9], tonumber(ARGV[8]))
