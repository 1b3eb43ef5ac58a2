import type { Priority } from '../tasks/task';

/**
 * Redis key names. Every key carries the same `{prefix}` hash tag, so on Redis Cluster they
 * all live in one slot and a Lua script may touch any of them.
 */
export function redisKeys(prefix: string) {
  const tag = `{${prefix}}`;
  return {
    /** Set of queue names seen. */
    queues: `${tag}:queues`,
    /** Hash: task id -> "seq|queue|priority" of its one live message. */
    index: `${tag}:index`,
    /** Dead-letter stream. */
    dlq: `${tag}:dlq`,
    /** Hash: task id -> the entry id of its record in the dead-letter stream. */
    dlqEntries: `${tag}:dlq:entries`,
    /** Pub/sub channel announcing cancelled tasks. */
    cancelChannel: `${tag}:cancel`,
    /** Stream of one queue and priority. */
    stream: (queue: string, priority: Priority) => `${tag}:stream:${queue}:${priority}`,
    /** Sorted set of a queue's delayed tasks, scored by due time (ms). */
    delayed: (queue: string) => `${tag}:delayed:${queue}`,
    /** Any key with this prefix: for tests that clean up after themselves. */
    pattern: `${tag}:*`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
