import { randomBytes } from 'node:crypto';
import { forkChild } from '../load/child-process';
import { deleteRedisPrefix } from './redis-prefix';

export interface BareHonoXaddInput {
  redisUrl: string;
  /** Key prefix of the stream; must start with `bench-` (it is deleted on stop). */
  prefix: string;
}

/** What bare-hono-xadd-child.ts reports once it listens. */
export interface BareHonoXaddMessage {
  type: 'listening';
  port: number;
}

export interface BareHonoXadd {
  /** `http://127.0.0.1:<port>/v1/tasks` */
  url: string;
  /** Stops the server process and deletes its stream. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the bare Hono + XADD endpoint (the HTTP ceiling) in its own process, on 127.0.0.1 and a
 * port the OS picks. Load it with httpLoad() exactly as Procurator's endpoint is loaded.
 */
export async function startBareHonoXadd(options: {
  redisUrl: string;
  prefix?: string;
}): Promise<BareHonoXadd> {
  const input: BareHonoXaddInput = {
    redisUrl: options.redisUrl,
    prefix: options.prefix ?? `bench-hono-${randomBytes(4).toString('hex')}`,
  };
  const child = await forkChild<BareHonoXaddMessage>('bench/peers/bare-hono-xadd-child.ts', input);
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      await child.stop();
      await deleteRedisPrefix(input.redisUrl, input.prefix).catch((err: unknown) =>
        console.error(`bare-hono-xadd: deleting ${input.prefix}:*:`, err),
      );
    })());
  try {
    const { port } = await child.next('listening', 15_000);
    return { url: `http://127.0.0.1:${port}/v1/tasks`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
