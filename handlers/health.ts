import { Hono } from 'hono';
import type { ApiDeps, AppEnv } from './context';

const CHECK_TIMEOUT_MS = 2000;

/** 'ok', or what went wrong. */
async function check(probe: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `unavailable: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness (the process answers) and readiness (its database and queue answer). */
export function healthRouter(d: { readiness: ApiDeps['readiness'] }): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/healthz', (c) => c.json({ status: 'ok' }));
  r.get('/readyz', async (c) => {
    const [db, q] = await Promise.all([check(d.readiness.db), check(d.readiness.queue)]);
    const ready = db === 'ok' && q === 'ok';
    if (!ready) c.header('Retry-After', '5');
    return c.json({ status: ready ? 'ready' : 'unavailable', checks: { db, queue: q } }, ready ? 200 : 503);
  });
  return r;
}
