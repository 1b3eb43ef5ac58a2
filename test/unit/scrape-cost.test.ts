import { describe, expect, it } from 'vitest';
import { attachQueueGauges, createMetrics } from '../../lib/observability/metrics';
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
    attachQueueGauges(metrics, queue, () => {
      deadCounts++;
      return Promise.resolve(3);
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
