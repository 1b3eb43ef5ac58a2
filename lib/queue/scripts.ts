import addTask from './scripts/add-task.include.lua?raw';
import ackBatch from './scripts/ack-batch-2.lua?raw';
import claimIdle from './scripts/claim-idle-1.lua?raw';
import deadLetter from './scripts/dead-letter-3.lua?raw';
import defer from './scripts/defer-5.lua?raw';
import enqueueBatch from './scripts/enqueue-batch-4.lua?raw';
import forget from './scripts/forget-2.lua?raw';
import promoteDue from './scripts/promote-due-5.lua?raw';
import readPrioritized from './scripts/read-prioritized-n.lua?raw';
import postpone from './scripts/postpone-2.lua?raw';
import removeConsumer from './scripts/remove-consumer-1.lua?raw';
import touch from './scripts/touch-1.lua?raw';

/** Every Lua script of the Redis queue, with its key count (-1: given per call). */
export const queueScripts = {
  procEnqueueBatch: { lua: `${addTask}\n${enqueueBatch}`, keys: 4 },
  procDefer: { lua: `${addTask}\n${defer}`, keys: 5 },
  procAckBatch: { lua: ackBatch, keys: 2 },
  procDeadLetter: { lua: deadLetter, keys: 3 },
  procForget: { lua: forget, keys: 2 },
  procPromoteDue: { lua: promoteDue, keys: 5 },
  procReadPrioritized: { lua: readPrioritized, keys: -1 },
  procClaimIdle: { lua: claimIdle, keys: 1 },
  procTouch: { lua: touch, keys: 1 },
  procPostpone: { lua: postpone, keys: 2 },
  procRemoveConsumer: { lua: removeConsumer, keys: 1 },
} as const;

export type QueueScriptName = keyof typeof queueScripts;
