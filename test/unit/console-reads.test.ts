import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldLeases } from '../../lib/leadership/lease';
import { TaskActivity } from '../../lib/tasks/task-activity';
import { ConsoleClient } from '../helpers/console-client';
import type { Stack } from '../helpers/stack';
import { startStack, submitBatch } from '../helpers/stack';

// What the console's overview and task pages read (README, "Web console"): the last hour per
// minute, the workers alive, time filters and counts, a task's callback deliveries.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: { OUTBOUND_ALLOW_PRIVATE: 'true' } });
});
afterAll(async () => {
  await stack.stop();
});

describe('the overview', () => {
  it('counts succeeded tasks and failed attempts per minute over the last hour', async () => {
    const tasks = await submitBatch(stack, [
      { type: 'demo.echo', payload: {} },
      { type: 'demo.echo', payload: {} },
      { type: 'demo.fail', payload: { retryable: false } },
    ]);
    await Promise.all(tasks.map((t) => stack.waitForStatus(t.id, ['succeeded', 'dead'])));
    const minutes = await new TaskActivity(stack.database, { listTimeoutMs: 5000 }).lastHour();
    expect(minutes).toHaveLength(60);
    expect(Date.parse(minutes[59]!.at)).toBeLessThanOrEqual(Date.now());
    expect(Date.now() - Date.parse(minutes[59]!.at)).toBeLessThan(60_000);
    const sum = (k: 'succeeded' | 'failed') => minutes.reduce((n, m) => n + m[k], 0);
    expect(sum('succeeded')).toBe(2);
    expect(sum('failed')).toBe(1);
    // The last one or two minutes hold them (the test may straddle a minute).
    expect(minutes[58]!.succeeded + minutes[59]!.succeeded).toBe(2);
  });

  it('shows the charts, the queues and the workers alive', async () => {
    const { workers } = await stack.services.queues.status();
    expect(workers.map((w) => w.id)).toContain('worker-1');
    const leases = await heldLeases(stack.database);
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const html = await (await browser.get('/ui')).text();
    expect(html).toMatch(/Tasks succeeded: <strong>2<\/strong> in the last hour/);
    expect(html).toMatch(/Failed attempts: <strong>1<\/strong> in the last hour/);
    expect(html).toContain('role="img"');
    expect(html).toContain('<code>worker-1</code>');
    expect(html).toMatch(/<th scope="row">default<\/th>/);
    for (const l of leases) expect(html).toContain(l.name);
  });
});

describe('the task list', () => {
  it('filters by submission time (UTC) and counts what matches', async () => {
    const before = new Date(Date.now() - 1000);
    const [t] = await submitBatch(stack, [{ type: 'demo.echo', payload: {}, delayMs: 3_600_000 }]);
    const inRange = await stack.services.tasks.list({ since: before, limit: 500 });
    expect(inRange.items.map((x) => x.id)).toContain(t!.id);
    const future = await stack.services.tasks.list({ since: new Date(Date.now() + 60_000), limit: 500 });
    expect(future.items).toHaveLength(0);
    const past = await stack.services.tasks.list({ until: before, limit: 500 });
    expect(past.items.map((x) => x.id)).not.toContain(t!.id);
    expect(await stack.services.tasks.count({ statuses: ['scheduled'] })).toEqual({ n: 1, capped: false });
    expect(await stack.services.tasks.count({ statuses: [] })).toEqual({ n: 0, capped: false });
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const since = before.toISOString().slice(0, 16);
    const html = await (await browser.get(`/ui/tasks?since=${since}&status=scheduled`)).text();
    expect(html).toContain(t!.id);
    expect(html).toContain(`value="${since}"`);
    expect(await (await browser.get(`/ui/tasks?until=${since}`)).text()).not.toContain(t!.id);
  });
});

describe('the task page', () => {
  it('links a task to the tasks it waits for, and a dev may cancel it while it waits', async () => {
    const [parent] = await submitBatch(stack, [{ type: 'demo.echo', delayMs: 3_600_000 }]);
    const [child] = await submitBatch(stack, [{ type: 'demo.echo', dependsOn: [parent!.id] }]);
    expect(child!.status).toBe('waiting');
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const html = await (await browser.get(`/ui/tasks/${child!.id}`)).text();
    expect(html).toContain('data-status="waiting"');
    expect(html).toContain(`href="/ui/tasks/${parent!.id}"`);
    expect(html).toContain('action="/ui/tasks/' + child!.id + '/cancel"');
    const list = await (await browser.get('/ui/tasks?status=waiting')).text();
    expect(list).toContain(child!.id);
    const csrf = await browser.csrf();
    expect((await browser.post(`/ui/tasks/${child!.id}/cancel`, { _csrf: csrf })).status).toBe(303);
    expect((await stack.waitForStatus(child!.id, ['cancelled'])).status).toBe('cancelled');
  });

  it('shows the payload, result, events, callback deliveries and copy-as-curl without the token', async () => {
    const [t] = await submitBatch(stack, [
      { type: 'demo.echo', payload: { hello: 'console' }, callbackUrl: 'http://127.0.0.1:9/hook' },
    ]);
    await stack.waitForStatus(t!.id, ['succeeded']);
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const html = await (await browser.get(`/ui/tasks/${t!.id}`)).text();
    expect(html).toContain('data-status="succeeded"');
    expect(html).toContain('&quot;hello&quot;: &quot;console&quot;');
    for (const kind of ['submitted', 'started', 'succeeded'])
      expect(html).toContain(`<strong class="kind">${kind}</strong>`);
    expect(html).toContain('Callback URL: <code>http://127.0.0.1:9/hook</code>');
    expect(html).toContain('task.succeeded');
    expect(html).toContain('$PROCURATOR_TOKEN');
    expect(html).toContain(`/v1/tasks/${t!.id}`);
    expect(html).not.toContain(stack.adminToken);
  });
});
