import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { percentile } from '../peers/stats';
import { postJson } from './measure';
import type { ProcuratorStack } from './stack';

/**
 * Idle latency to an `http` task's target: `n` sequential submits of an `http` task whose
 * URL is a server in this process, one worker waiting; for each, the time from sending the
 * submit to the target receiving the task's request. One clock (this process's), and the
 * whole path a user sees: admission, commit, enqueue, read, claim, the executor's request.
 * The stack must let tasks reach loopback (OUTBOUND_ALLOW_PRIVATE=true).
 */
export async function measureHttpTargetLatency(
  stack: ProcuratorStack,
  n: number,
): Promise<{ n: number; p50Ms: number; p99Ms: number; maxMs: number }> {
  const arrived = new Map<number, number>();
  let waiting: { seq: number; resolve: () => void } | null = null;
  const target = http.createServer((req, res) => {
    const seq = Number(/^\/hit\/(\d+)$/.exec(req.url ?? '')?.[1] ?? -1);
    if (!arrived.has(seq)) arrived.set(seq, performance.now());
    req.resume();
    res.end('ok');
    if (waiting?.seq === seq) waiting.resolve();
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const port = (target.address() as AddressInfo).port;
  await stack.startWorkers(1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${stack.url}/v1/tasks`;
  const submit = async (seq: number) => {
    const body = JSON.stringify({
      type: 'http',
      queue: 'http-latency',
      payload: { url: `http://127.0.0.1:${port}/hit/${seq}`, method: 'POST', body: { seq } },
    });
    const reached = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`http task ${seq} did not reach its target in 10 s`)),
        10_000,
      );
      waiting = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    const sent = performance.now();
    const res = await postJson(url, stack.token, body, agent);
    if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${res.text}`);
    await reached;
    return arrived.get(seq)! - sent;
  };
  try {
    // Warm-up: the worker learns of the new queue, the connections and the JIT settle.
    const warmUntil = Date.now() + 3000;
    let seq = 0;
    while (Date.now() < warmUntil) await submit(seq++);
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      latencies.push(await submit(seq++));
      await new Promise((r) => setTimeout(r, 2)); // idle between submits, as a quiet system is
    }
    return {
      n: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
    };
  } finally {
    agent.destroy();
    await stack.stopWorkers();
    await new Promise((r) => target.close(r));
  }
}
