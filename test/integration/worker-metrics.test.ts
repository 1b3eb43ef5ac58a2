import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../helpers/cluster';
import { startCluster } from '../helpers/cluster';
import { workerMetricsPort } from '../helpers/queue-probe';

const METRICS_TOKEN = 'worker-scrape-secret-0123456789';

describe("the worker's /metrics with METRICS_TOKEN set", () => {
  let cluster: Cluster;
  let port: number;
  beforeAll(async () => {
    cluster = await startCluster({
      label: 'wmetrics',
      serves: 0,
      workers: 1,
      env: { METRICS_TOKEN, WORKER_METRICS_PORT: '0' },
    });
    port = await workerMetricsPort(cluster.workers[0]!);
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('is 401 problem+json without the token or with a wrong one, and reveals no metric', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: 'Bearer wrong-token' },
      { 'X-API-Token': `${METRICS_TOKEN}x` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.text()).not.toContain('procurator_');
    }
  });

  it('is 200 Prometheus text with it; /healthz stays open', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
      headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('procurator_worker_inflight');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});
