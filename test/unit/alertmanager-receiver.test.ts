import { afterEach, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { startStack } from '../helpers/stack';
import type { Stack } from '../helpers/stack';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** A notification as Alertmanager's webhook receiver sends it (version 4). */
function notification(over: Record<string, unknown> = {}) {
  return {
    version: '4',
    groupKey: '{}:{severity="page"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'procurator',
    groupLabels: { severity: 'page' },
    commonLabels: { severity: 'page', job: 'procurator' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels: {
          alertname: 'ProcuratorWorkerDown',
          severity: 'page',
          job: 'procurator',
          instance: 'worker-2:50003',
        },
        annotations: { summary: 'worker-2 is not scraped' },
        startsAt: '2026-12-01T00:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint: 'a1',
      },
      {
        status: 'firing',
        labels: { alertname: 'ProcuratorDeadLettersGrowing', severity: 'page', job: 'procurator' },
        annotations: { description: 'dead letters grew by 12 in 10 minutes' },
        startsAt: '2026-12-01T00:01:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint: 'b2',
      },
    ],
    ...over,
  };
}

describe('POST /v1/integrations/alertmanager', () => {
  it('turns one notification into one feishu.notify task summarising the group', async () => {
    stack = await startStack({ worker: false });
    const ops = await stack.user('ops');
    const res = await stack.request('POST', '/v1/integrations/alertmanager', {
      token: ops.token,
      body: notification(),
    });
    expect(res.status).toBe(202);
    const { taskId } = (await res.json()) as { taskId: string };
    const task = (await (await stack.request('GET', `/v1/tasks/${taskId}`)).json()) as TaskView;
    expect(task.type).toBe('feishu.notify');
    expect(task.createdBy).toBe(ops.id);
    const text = (task.payload as { text: string }).text;
    expect(text.split('\n')[0]).toBe('[FIRING:2] ProcuratorWorkerDown, ProcuratorDeadLettersGrowing');
    expect(text).toContain('group: severity=page');
    // Each alert with what sets it apart from the group, and its summary (or description).
    expect(text).toContain(
      '- firing: ProcuratorWorkerDown (instance=worker-2:50003): worker-2 is not scraped',
    );
    expect(text).toContain('- firing: ProcuratorDeadLettersGrowing: dead letters grew by 12 in 10 minutes');
    expect(text).toContain('Alertmanager: http://alertmanager:9093 (receiver procurator)');
  });

  it('says resolved for a resolved group', async () => {
    stack = await startStack({ worker: false });
    const resolved = notification({ status: 'resolved' });
    for (const a of resolved.alerts) a.status = 'resolved';
    const res = await stack.request('POST', '/v1/integrations/alertmanager', { body: resolved });
    const { taskId } = (await res.json()) as { taskId: string };
    const task = (await (await stack.request('GET', `/v1/tasks/${taskId}`)).json()) as TaskView;
    expect((task.payload as { text: string }).text.split('\n')[0]).toBe(
      '[RESOLVED] ProcuratorWorkerDown, ProcuratorDeadLettersGrowing',
    );
  });

  it('refuses a body that is not a notification (422 naming the field) and a dev (403), storing nothing', async () => {
    stack = await startStack({ worker: false });
    const bad = await stack.request('POST', '/v1/integrations/alertmanager', {
      body: notification({ alerts: 'none' }),
    });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(await bad.json())).toContain('alerts');
    const dev = await stack.user('dev');
    const refused = await stack.request('POST', '/v1/integrations/alertmanager', {
      token: dev.token,
      body: notification(),
    });
    expect(refused.status).toBe(403);
    const list = (await (await stack.request('GET', '/v1/tasks')).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });
});
