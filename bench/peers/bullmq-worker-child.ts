import { Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { childInput, monotonicMicros, report, runChild } from '../load/child-side';
import type { BullmqJobData, BullmqWorkerInput, BullmqWorkerMessage } from './bullmq';

/**
 * Child of measureBullmq(): one BullMQ Worker with a no-op processor. It times the drain of the
 * `expected` jobs already queued, then stays idle and reports each latency probe's pickup.
 */
runChild(async () => {
  const o = childInput<BullmqWorkerInput>();
  const pickups = new Map<string, number>();
  const worker = new Worker<BullmqJobData>(
    o.queue,
    // The pickup instant is the processor's first line; the rest is BullMQ's own bookkeeping.
    (job: Job<BullmqJobData>) => {
      if (job.data.sentAt !== undefined) pickups.set(job.id!, monotonicMicros() - job.data.sentAt);
      return Promise.resolve();
    },
    {
      connection: { url: o.redisUrl, maxRetriesPerRequest: null },
      prefix: o.prefix,
      concurrency: o.concurrency,
      autorun: false,
    },
  );
  worker.on('error', (err) => report({ type: 'error', message: err.message }));

  // Completions are counted from the worker's own 'completed' event: it fires after
  // moveToCompleted has returned from Redis (the job is done and, with removeOnComplete,
  // deleted), and costs no Redis traffic, unlike QueueEvents, which would read the events
  // stream alongside the worker and load the Redis under test.
  let completed = 0;
  let start = 0;
  worker.on('completed', (job) => {
    const pickup = pickups.get(job.id!);
    if (pickup !== undefined) {
      pickups.delete(job.id!);
      report<BullmqWorkerMessage>({ type: 'probe', pickupMicros: pickup });
      return;
    }
    if (++completed === o.expected) {
      const seconds = (monotonicMicros() - start) / 1e6;
      report<BullmqWorkerMessage>({
        type: 'drained',
        seconds,
        rssMb: process.memoryUsage().rss / 2 ** 20,
      });
    }
  });

  // Connections are opened before the timer starts, as a long-running worker's would be.
  await worker.waitUntilReady();
  start = monotonicMicros();
  worker.run().catch((err: unknown) => report({ type: 'error', message: String(err) }));
  return () => worker.close();
});
