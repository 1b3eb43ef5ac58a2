import { Hono } from 'hono';
import { QueuePauseStore } from '../lib/queue/queue-pauses';
import type { AppEnv } from './context';

/** /v1/system: what this deployment is and how its queues are doing. */
export function systemRouter(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/info', (c) => {
    const { version, queue, database, catalog } = c.get('deps');
    return c.json({
      version,
      queueBackend: queue.kind,
      database: database.kind === 'pglite' ? 'embedded' : 'postgres',
      taskTypes: catalog.list(),
    });
  });

  r.get('/queues', async (c) => {
    const { queue } = c.get('deps');
    const [stats, counts, states] = await Promise.all([
      queue.stats(),
      c.get('services').tasks.countByQueueAndStatus(['dead']),
      new QueuePauseStore(c.get('deps').database).list(),
    ]);
    const dead = new Map(counts.map((r) => [r.queue, r.n]));
    const paused = new Map(states.filter((s) => s.paused).map((s) => [s.name, s]));
    const names = new Set([...stats.map((s) => s.name), ...dead.keys(), ...paused.keys()]);
    const items = [...names].sort().map((name) => {
      const s = stats.find((x) => x.name === name);
      return {
        name,
        length: s?.length ?? 0,
        pending: s?.pending ?? 0,
        delayed: s?.delayed ?? 0,
        dead: dead.get(name) ?? 0,
        consumers: s?.consumers ?? 0,
        paused: paused.has(name),
        pausedAt: paused.get(name)?.pausedAt ?? null,
      };
    });
    return c.json({ items });
  });

  return r;
}
