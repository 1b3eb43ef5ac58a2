import { describe, expect, it } from 'vitest';
import { attachDependencyGauge, attachQueueGauges, createMetrics } from '../../lib/observability/metrics';
import { MemoryQueue } from '../../lib/queue/memory-queue';
import { captureLogger } from '../helpers/log-capture';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// /metrics needs no token by default: a scrape must cost no more than reading numbers kept for
// a moment, however many gauges, scrapers or scrapes there are. It used to ask the queue for
// its stats once per gauge (three Redis calls per queue each) and count every dead row, on
// every scrape.

describe('the queue gauges behind /metrics', () => {
  it('read the queue and the dead count once per couple of seconds, not once per gauge and scrape', async () => {
    const queue = new MemoryQueue();
    await queue.enqueue([{ taskId: 't1', seq: 1, queue: 'default', priority: 'normal', type: 'demo.echo' }]);
    let statsCalls = 0;
    const stats = queue.stats.bind(queue);
    queue.stats = () => {
      statsCalls++;
      return stats();
    };
    let deadCounts = 0;
    const metrics = createMetrics(undefined, false);
    attachQueueGauges(metrics, {
      queue,
      deadCount: () => {
        deadCounts++;
        return Promise.resolve(3);
      },
      pausedQueues: () => Promise.resolve(new Set<string>()),
    });
    for (let i = 0; i < 5; i++) {
      const text = await metrics.registry.metrics();
      expect(text).toContain('procurator_queue_length{queue="default"} 1');
      expect(text).toContain('procurator_dlq_size 3');
    }
    expect(statsCalls).toBe(1);
    expect(deadCounts).toBe(1);
  });
});

describe('the queue gauges when a source fails', () => {
  // With Redis down, a scrape used to answer 503 because the queue gauges threw; Prometheus
  // then never saw procurator_dependency_up{dependency="redis"} 0 from the API.
  it('leave the per-queue series out and the totals NaN, and the scrape still answers', async () => {
    const queue = new MemoryQueue();
    queue.stats = () => Promise.reject(new Error('Connection is closed.'));
    const metrics = createMetrics(undefined, false);
    attachDependencyGauge(metrics, {
      database: () => Promise.resolve(),
      redis: () => Promise.reject(new Error('Connection is closed.')),
    });
    attachQueueGauges(metrics, {
      queue,
      deadCount: () => Promise.resolve(2),
      pausedQueues: () => Promise.reject(new Error('the database is gone')),
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('procurator_dependency_up{dependency="redis"} 0');
    expect(text).toContain('procurator_dependency_up{dependency="database"} 1');
    expect(text).not.toMatch(/^procurator_queue_length\{/m);
    expect(text).not.toMatch(/^procurator_queue_paused\{/m);
    // prom-client writes NaN as "Nan"; Prometheus parses it case-insensitively.
    expect(text).toMatch(/^procurator_delayed_tasks nan$/im);
    expect(text).toContain('procurator_dlq_size 2');
  });

  it('give up on a source that hangs instead of holding the scrape', async () => {
    const queue = new MemoryQueue();
    queue.stats = () => new Promise(() => undefined);
    const metrics = createMetrics(undefined, false);
    attachQueueGauges(metrics, {
      queue,
      deadCount: () => Promise.resolve(0),
      pausedQueues: () => Promise.resolve(new Set()),
    });
    const started = Date.now();
    const text = await metrics.registry.metrics();
    expect(Date.now() - started).toBeLessThan(4000);
    // prom-client writes NaN as "Nan"; Prometheus parses it case-insensitively.
    expect(text).toMatch(/^procurator_delayed_tasks nan$/im);
  });
});

describe('procurator_queue_paused', () => {
  it('is 1 for a paused queue, also one with nothing in it, and 0 for the others', async () => {
    const queue = new MemoryQueue();
    await queue.enqueue([{ taskId: 't1', seq: 1, queue: 'default', priority: 'normal', type: 'demo.echo' }]);
    const metrics = createMetrics(undefined, false);
    attachQueueGauges(metrics, {
      queue,
      deadCount: () => Promise.resolve(0),
      pausedQueues: () => Promise.resolve(new Set(['reports'])),
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('procurator_queue_paused{queue="default"} 0');
    expect(text).toContain('procurator_queue_paused{queue="reports"} 1');
  });
});

describe('/readyz', () => {
  let stack: Stack;
  it('says which dependency is down and keeps what went wrong for the log', async () => {
    const { logger, text: logged } = captureLogger('warn');
    stack = await startStack({ worker: false, logger });
    try {
      stack.database.ping = () =>
        Promise.reject(new Error('password authentication failed for user "ops" at 10.9.8.7:5432'));
      const res = await stack.request('GET', '/readyz', { token: null });
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ status: 'unavailable', checks: { db: 'unavailable', queue: 'ok' } });
      expect(text).not.toMatch(/password|10\.9\.8\.7|ops/);
      // The operator still learns why, from the log.
      expect(logged()).toContain('password authentication failed');
    } finally {
      await stack.stop();
    }
  });
});
