import { luaScript } from '../redis/lua-scripts';
import ackBatch from './scripts/ack-batch-2.lua?raw';
import claimIdle from './scripts/claim-idle-n.lua?raw';
import deadLetter from './scripts/dead-letter-4.lua?raw';
import defer from './scripts/defer-4.lua?raw';
import enqueueBatch from './scripts/enqueue-batch-3.lua?raw';
import forget from './scripts/forget-2.lua?raw';
import postpone from './scripts/postpone-2.lua?raw';
import promoteDue from './scripts/promote-due-n.lua?raw';
import readPrioritized from './scripts/read-prioritized-n.lua?raw';
import removeDeadLetters from './scripts/remove-dead-letters-2.lua?raw';
import removeConsumer from './scripts/remove-consumer-1.lua?raw';
import sweepConsumers from './scripts/sweep-consumers-n.lua?raw';
import touch from './scripts/touch-1.lua?raw';
import wakeHeld from './scripts/wake-held-5.lua?raw';

/** Every Lua script of the Redis queue (lib/queue/scripts/), loaded by the one Lua loader. */
export const QUEUE_SCRIPTS = [
  luaScript('ack-batch-2.lua', ackBatch),
  luaScript('claim-idle-n.lua', claimIdle),
  luaScript('dead-letter-4.lua', deadLetter),
  luaScript('defer-4.lua', defer),
  luaScript('enqueue-batch-3.lua', enqueueBatch),
  luaScript('forget-2.lua', forget),
  luaScript('postpone-2.lua', postpone),
  luaScript('promote-due-n.lua', promoteDue),
  luaScript('read-prioritized-n.lua', readPrioritized),
  luaScript('remove-consumer-1.lua', removeConsumer),
  luaScript('remove-dead-letters-2.lua', removeDeadLetters),
  luaScript('sweep-consumers-n.lua', sweepConsumers),
  luaScript('touch-1.lua', touch),
  luaScript('wake-held-5.lua', wakeHeld),
] as const;

export type QueueScriptName = (typeof QUEUE_SCRIPTS)[number]['command'];
