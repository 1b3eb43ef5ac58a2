import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { ChildHandle } from '../load/child-process';
import { forkChild } from '../load/child-process';
import { monotonicMicros } from '../load/child-side';
import { deleteRedisPrefix } from './redis-prefix';
import { percentile } from './stats';

export interface BullmqOptions {
  redisUrl: string;
  jobs: number;
  /** Worker concurrency; 50 as the issue fixes it. */
  concurrency?: number;
  /** Sequential single adds for the idle pickup latency; 0 skips it. Default 500. */
  latencySamples?: number;
  /** Jobs per addBulk call. Default 1000. */
  addBatchSize?: number;
  /** Node flags of the worker process (the same V8 settings Procurator's worker gets). */
  execArgv?: string[];
}

export interface BullmqResult {
  jobs: number;
  addPerSecond: number;
  processPerSecond: number;
  idleLatencyP50Ms?: number;
  idleLatencyP99Ms?: number;
  /** The worker process's RSS right after the drain. */
  workerRssMb?: number;
}

/** Job data: ~200 bytes of JSON, as Procurator's benchmark payload; `sentAt` on latency probes. */
export interface BullmqJobData {
  payload: string;
  sentAt?: number;
}

export interface BullmqWorkerInput {
  redisUrl: string;
  prefix: string;
  queue: string;
  concurrency: number;
  expected: number;
}

/** What bullmq-worker-child.ts reports. */
export type BullmqWorkerMessage =
  { type: 'drained'; seconds: number; rssMb: number } | { type: 'probe'; pickupMicros: number };

/**
 * BullMQ, the Redis-only peer (it keeps no database state), on its own key prefix.
 *
 * - add: `addBulk` of `jobs` jobs (removeOnComplete) in batches from this process, no worker
 *   running; timer from the first call to the last resolved.
 * - process: a no-op Worker (concurrency 50) in a child process drains them; timer in the
 *   child from `worker.run()` (connections already open) to the `expected`th 'completed'.
 * - idle latency: then, with the worker idle, `latencySamples` sequential `add()`s, each after
 *   the previous job completed; pickup = the processor's start minus the instant before
 *   `add()`, both on the machine's monotonic clock (see monotonicMicros).
 */
export async function measureBullmq(options: BullmqOptions): Promise<BullmqResult> {
  const { redisUrl, jobs, concurrency = 50, latencySamples = 500, addBatchSize = 1000 } = options;
  if (jobs < 1) throw new Error('measureBullmq: jobs must be at least 1');
  const prefix = `bench-bullmq-${randomBytes(4).toString('hex')}`;
  const name = 'bench';
  const queue = new Queue<BullmqJobData>(name, {
    connection: { url: redisUrl, maxRetriesPerRequest: null },
    prefix,
  });
  queue.on('error', () => undefined); // failures surface through the awaited calls below
  let child: ChildHandle<BullmqWorkerMessage> | null = null;
  try {
    // ioredis retries a refused connection forever; a benchmark must fail instead.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      queue.waitUntilReady(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`bullmq: Redis not ready at ${redisUrl}`)), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const payload = 'x'.repeat(180);
    const opts = { removeOnComplete: true };

    const addStart = performance.now();
    for (let done = 0; done < jobs; done += addBatchSize) {
      const n = Math.min(addBatchSize, jobs - done);
      await queue.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: { payload }, opts })));
    }
    const addSeconds = (performance.now() - addStart) / 1000;

    const input: BullmqWorkerInput = { redisUrl, prefix, queue: name, concurrency, expected: jobs };
    child = await forkChild<BullmqWorkerMessage>(
      'bench/peers/bullmq-worker-child.ts',
      input,
      options.execArgv,
    );
    // Generous: 500 jobs/s would already be 50× slower than BullMQ runs here.
    const drained = await child.next('drained', 30_000 + jobs * 2);
    const counts = await queue.getJobCounts(
      'wait',
      'active',
      'delayed',
      'prioritized',
      'failed',
      'completed',
    );
    const left = Object.entries(counts).filter(([, n]) => n > 0);
    if (left.length) throw new Error(`bullmq: jobs left after the drain: ${JSON.stringify(counts)}`);

    const pickups: number[] = [];
    if (latencySamples > 0) {
      // Let the worker settle into its blocking wait for new jobs: the idle state we measure.
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < latencySamples; i++) {
        await queue.add('noop', { payload, sentAt: monotonicMicros() }, opts);
        pickups.push((await child.next('probe', 10_000)).pickupMicros / 1000);
      }
    }
    return {
      jobs,
      addPerSecond: jobs / addSeconds,
      processPerSecond: jobs / drained.seconds,
      ...(pickups.length > 0
        ? { idleLatencyP50Ms: percentile(pickups, 50), idleLatencyP99Ms: percentile(pickups, 99) }
        : {}),
      workerRssMb: drained.rssMb,
    };
  } finally {
    // Cleanup failures are printed, not thrown: they must not hide the measurement's own error.
    await child?.stop();
    await queue.close().catch((err: unknown) => console.error('bullmq: closing the queue:', err));
    await deleteRedisPrefix(redisUrl, prefix).catch((err: unknown) =>
      console.error(`bullmq: deleting ${prefix}:*:`, err),
    );
  }
}
