import type { Redis } from 'ioredis';
import type { RedisClient } from './client';
import { isCluster } from './client';

/** What a pipeline's `exec` answers: per call, its error or its result. */
export type TripResults = [Error | null, unknown][];

/**
 * Runs the calls `issue` makes on its argument together. On a single Redis they go as one
 * pipeline (one round trip). On a Redis Cluster a pipeline may only hold keys of one node, so
 * each call goes on its own, all at once: the cluster client routes each to its slot's node.
 * `issue` must only call commands (and defined scripts) on the target it is given, and must
 * not await them.
 */
export async function inOneTrip(client: RedisClient, issue: (target: Redis) => void): Promise<TripResults> {
  if (!isCluster(client)) {
    const pipeline = client.pipeline();
    issue(pipeline as unknown as Redis);
    return (await pipeline.exec()) ?? [];
  }
  const calls: Promise<unknown>[] = [];
  const recorder = new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const call = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        calls.push(call);
        return call;
      };
    },
  });
  issue(recorder as unknown as Redis);
  const settled = await Promise.allSettled(calls);
  return settled.map((s) =>
    s.status === 'fulfilled'
      ? [null, s.value]
      : [s.reason instanceof Error ? s.reason : new Error(String(s.reason)), null],
  );
}

/** Throws the first error of a trip. */
export function throwFirstError(results: TripResults): void {
  for (const [err] of results) if (err) throw err;
}
