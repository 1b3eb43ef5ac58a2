import type { Priority } from '../tasks/task';

/**
 * Redis key names. The keys of one queue share the hash tag `{prefix:queue}`, so on a Redis
 * Cluster each queue lives in one slot (a Lua script may touch all of its keys) and different
 * queues spread over the shards. The few keys of no queue carry `{prefix}`.
 */
export function redisKeys(prefix: string) {
  const global = `{${prefix}}`;
  const of = (queue: string) => `{${prefix}:${queue}}`;
  return {
    /** Set of queue names seen (the workers read it to know which streams to read). */
    queues: `${global}:queues`,
    /** Pub/sub channel announcing cancelled tasks (Redis Cluster broadcasts PUBLISH). */
    cancelChannel: `${global}:cancel`,
    /** Hash of one queue: task id -> "seq|queue|priority|type" of the task's one live message. */
    index: (queue: string) => `${of(queue)}:index`,
    /** Dead-letter stream of one queue. */
    dlq: (queue: string) => `${of(queue)}:dlq`,
    /** Hash of one queue: task id -> the entry id of its record in the queue's dead-letter stream. */
    dlqEntries: (queue: string) => `${of(queue)}:dlq:entries`,
    /** Stream of one queue and priority. */
    stream: (queue: string, priority: Priority) => `${of(queue)}:stream:${priority}`,
    /**
     * Set for a while after a queue is deleted, so that a worker that still reads it does not
     * create its streams again (as it does for a queue whose keys Redis lost).
     */
    deleted: (queue: string) => `${of(queue)}:deleted`,
    /** Fair sharing (lanes.include.lua): the keys with tasks in lanes, of one priority. */
    ring: (queue: string, priority: Priority) => `${of(queue)}:ring:${priority}`,
    /** The tasks of one concurrency key waiting to be fed into the stream of their priority. */
    lane: (queue: string, priority: Priority, key: string) => `${of(queue)}:lane:${priority}:${key}`,
    /** Hash: concurrency key -> ms before which its lane is not fed (held back by a flow limit). */
    laneAfter: (queue: string, priority: Priority) => `${of(queue)}:after:${priority}`,
    /** Hash: priority -> how many tasks of the queue wait in lanes. */
    laned: (queue: string) => `${of(queue)}:laned`,
    /** Sorted set of a queue's delayed tasks, scored by due time (ms). */
    delayed: (queue: string) => `${of(queue)}:delayed`,
    /** Every key under this prefix, global or of a queue (a SCAN MATCH pattern). */
    pattern: `{${escapeGlob(prefix)}[:}]*`,
  };
}

/** A glob matching `text` literally. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export type RedisKeys = ReturnType<typeof redisKeys>;
