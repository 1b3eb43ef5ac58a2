import { afterAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';

// TASK_TYPE_ROLES is decided at submission only: a task accepted while its type was open to
// dev still runs after the type became ops-only (on a worker configured so).

describe('roles per task type are decided at submission', () => {
  let cluster: Cluster;
  let worker: Proc | undefined;
  afterAll(async () => {
    await worker?.stop();
    await cluster?.stop();
  });

  it('runs a task a dev submitted before its type needed ops', async () => {
    cluster = await startCluster({
      label: 'roles',
      serves: 1,
      env: { TASK_TYPE_ROLES: '{"demo.sleep":"dev"}' },
    });
    const port = cluster.ports[0]!;
    const created = await callApi(port, cluster.token, 'POST', '/v1/users', {
      name: 'submitter',
      role: 'dev',
    });
    const devToken = String(created.body.token);
    const submitted = await callApi(port, devToken, 'POST', '/v1/tasks', {
      type: 'demo.sleep',
      payload: { ms: 10 },
    });
    expect(submitted.status).toBe(202);
    const id = String(submitted.body.id);

    // The worker's configuration says demo.sleep is for admins now: it runs the task anyway.
    worker = spawnProcurator(['worker'], {
      ...cluster.env,
      WORKER_METRICS_PORT: '0',
      TASK_TYPE_ROLES: '{"demo.sleep":"admin"}',
    });
    const done: TaskView = await waitForTaskStatus(port, cluster.token, id, ['succeeded', 'dead'], 20_000);
    expect(done.status).toBe('succeeded');
  });
});
