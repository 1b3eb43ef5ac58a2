import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { CONSOLE_CSP } from '../../handlers/console/security-headers';
import { ConsoleClient } from '../helpers/console-client';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// The console's CSRF protection, its roles (exactly the API's), its scoping (a dev sees its
// own), escaping and headers, and what its actions leave in the audit log (README, "Web console").

let stack: Stack;
let dev: { id: string; token: string };
let otherDev: { id: string; token: string };
let ops: { id: string; token: string };
const as: Record<'admin' | 'ops' | 'dev', ConsoleClient> = {} as never;

async function submit(token: string, body: Record<string, unknown>): Promise<TaskView> {
  const res = await stack.request('POST', '/v1/tasks', { token, body });
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

const later = { type: 'demo.echo', payload: {}, delayMs: 3_600_000 };

beforeAll(async () => {
  stack = await startStack({ worker: false });
  dev = await stack.user('dev', 'dev-a');
  otherDev = await stack.user('dev', 'dev-b');
  ops = await stack.user('ops', 'ops-a');
  as.admin = new ConsoleClient(stack.app);
  as.ops = new ConsoleClient(stack.app);
  as.dev = new ConsoleClient(stack.app);
  await as.admin.signIn(stack.adminToken);
  await as.ops.signIn(ops.token);
  await as.dev.signIn(dev.token);
});
afterAll(async () => {
  await stack.stop();
});

describe('CSRF', () => {
  it('refuses a change without the session’s token, with a wrong one, or with another session’s', async () => {
    const task = await submit(dev.token, later);
    const other = new ConsoleClient(stack.app);
    await other.signIn(dev.token);
    const othersToken = await other.csrf();
    const forms: Record<string, string>[] = [
      {},
      { _csrf: '' },
      { _csrf: 'x'.repeat(43) },
      { _csrf: othersToken },
    ];
    for (const form of forms) {
      const res = await as.dev.post(`/ui/tasks/${task.id}/cancel`, form);
      expect(res.status, JSON.stringify(form)).toBe(403);
      expect(await res.text()).toContain('CSRF');
    }
    expect((await stack.waitForStatus(task.id, ['scheduled'])).status).toBe('scheduled');
  });

  it('refuses the right token from a foreign Origin; accepts it as a field or as X-CSRF-Token', async () => {
    const csrf = await as.dev.csrf();
    const a = await submit(dev.token, later);
    expect(
      (await as.dev.post(`/ui/tasks/${a.id}/cancel`, { _csrf: csrf }, { Origin: 'https://evil.example' }))
        .status,
    ).toBe(403);
    const ok = await as.dev.post(`/ui/tasks/${a.id}/cancel`, { _csrf: csrf }, { Origin: as.dev.origin });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/ui/tasks/${a.id}?done=cancelled&n=1`);
    expect((await stack.waitForStatus(a.id, ['cancelled'])).status).toBe('cancelled');
    const b = await submit(dev.token, later);
    const viaHeader = await as.dev.request('POST', `/ui/tasks/${b.id}/cancel`, {
      headers: { 'X-CSRF-Token': csrf },
    });
    expect(viaHeader.status).toBe(303);
  });

  it('guards every change: sign-out, queues, users and dead letters alike', async () => {
    for (const path of ['/ui/sign-out', '/ui/queues/default/pause', '/ui/users', '/ui/dlq/replay']) {
      expect((await as.admin.post(path, { scope: 'filter', name: 'x', role: 'dev' })).status, path).toBe(403);
    }
    expect((await as.admin.get('/ui/users')).status).toBe(200); // still signed in
  });
});

describe('roles, exactly as the API', () => {
  it('a dev lands on its tasks; no dead letters, queues or users, not even by URL; the links are not shown', async () => {
    const landing = await as.dev.get('/ui');
    expect(landing.status).toBe(303);
    expect(landing.headers.get('location')).toBe('/ui/tasks');
    for (const path of ['/ui/dlq', '/ui/queues', '/ui/users']) {
      const res = await as.dev.get(path);
      expect(res.status, path).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(await res.text()).toContain('needs the');
    }
    const csrf = await as.dev.csrf();
    const dead = await submit(dev.token, { type: 'demo.fail', payload: { retryable: false } });
    for (const path of [
      `/ui/dlq/${dead.id}/replay`,
      `/ui/dlq/${dead.id}/delete`,
      '/ui/dlq/replay',
      '/ui/queues/default/pause',
      '/ui/users',
      `/ui/users/${otherDev.id}/rotate`,
    ]) {
      expect((await as.dev.post(path, { _csrf: csrf, scope: 'filter' })).status, path).toBe(403);
    }
    const nav = /<nav aria-label="Console">([\s\S]*?)<\/nav>/.exec(
      await (await as.dev.get('/ui/tasks')).text(),
    )![1]!;
    expect(nav).toContain('href="/ui/tasks"');
    expect(nav).toContain('href="/ui/logs"');
    expect(nav).toContain('href="/ui/schedules"');
    for (const hidden of ['/ui/dlq"', '/ui/queues"', '/ui/users"', 'href="/ui"'])
      expect(nav).not.toContain(hidden);
  });

  it('ops sees the overview, dead letters and queues, but no users page', async () => {
    for (const path of ['/ui', '/ui/dlq', '/ui/queues', '/ui/tasks', '/ui/logs', '/ui/schedules']) {
      expect((await as.ops.get(path)).status, path).toBe(200);
    }
    expect((await as.ops.get('/ui/users')).status).toBe(403);
    const nav = /<nav aria-label="Console">([\s\S]*?)<\/nav>/.exec(
      await (await as.ops.get('/ui')).text(),
    )![1]!;
    expect(nav).toContain('/ui/dlq"');
    expect(nav).not.toContain('/ui/users"');
  });

  it('admin sees every page', async () => {
    for (const path of [
      '/ui',
      '/ui/dlq',
      '/ui/queues',
      '/ui/tasks',
      '/ui/logs',
      '/ui/schedules',
      '/ui/users',
    ]) {
      expect((await as.admin.get(path)).status, path).toBe(200);
    }
  });

  it('a dev sees only its own tasks: another’s is not found, in the list, the page and its actions', async () => {
    const mine = await submit(dev.token, later);
    const theirs = await submit(otherDev.token, later);
    const list = await (await as.dev.get('/ui/tasks')).text();
    expect(list).toContain(mine.id);
    expect(list).not.toContain(theirs.id);
    expect((await as.dev.get(`/ui/tasks/${theirs.id}`)).status).toBe(404);
    expect((await as.dev.get(`/ui/fragments/tasks/${theirs.id}`)).status).toBe(404);
    const csrf = await as.dev.csrf();
    expect((await as.dev.post(`/ui/tasks/${theirs.id}/cancel`, { _csrf: csrf })).status).toBe(404);
    expect((await as.dev.get(`/ui/logs?taskId=${theirs.id}`)).status).toBe(404);
    // Bulk cancel by filter reaches only its own.
    const confirm = await (await as.dev.post('/ui/tasks/cancel', { _csrf: csrf, scope: 'filter' })).text();
    const count = Number(/name="confirm" value="(\d+)"/.exec(confirm)![1]);
    const res = await as.dev.post('/ui/tasks/cancel', {
      _csrf: csrf,
      scope: 'filter',
      confirm: String(count),
    });
    expect(res.status).toBe(303);
    expect((await stack.waitForStatus(theirs.id, ['scheduled'])).status).toBe('scheduled');
    expect((await stack.waitForStatus(mine.id, ['cancelled'])).status).toBe('cancelled');
    // Ops sees both.
    const opsList = await (await as.ops.get('/ui/tasks')).text();
    expect(opsList).toContain(theirs.id);
  });
});

describe('pages', () => {
  it('carry the strict CSP, no inline script, and are never cached', async () => {
    for (const path of [
      '/ui',
      '/ui/tasks',
      '/ui/dlq',
      '/ui/queues',
      '/ui/users',
      '/ui/logs',
      '/ui/schedules',
    ]) {
      const res = await as.admin.get(path);
      expect(res.headers.get('content-security-policy'), path).toBe(CONSOLE_CSP);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const html = await res.text();
      expect(html.startsWith('<!doctype html>')).toBe(true);
      // Every script comes from a file of ours; no inline handler or style attribute either.
      expect([...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1])).toEqual([
        ' src="/ui/assets/console.js" defer=""',
      ]);
      expect(html).not.toMatch(/\son[a-z]+=/i);
      expect(html).not.toMatch(/\sstyle=/i);
    }
    const sign = await new ConsoleClient(stack.app).get('/ui/sign-in');
    expect(sign.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
  });

  it('serve the bundled script and style sheet from the package itself', async () => {
    const js = await as.admin.get('/ui/assets/console.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(1000);
    const css = await new ConsoleClient(stack.app).get('/ui/assets/console.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    expect((await as.admin.get('/ui/assets/../package.json')).status).toBe(404);
    expect((await as.admin.get('/ui/assets/other.js')).status).toBe(404);
  });

  it('escape what users wrote: a payload, an error message, a queue name', async () => {
    const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const t = await submit(dev.token, {
      type: 'demo.echo',
      payload: { evil },
      metadata: { evil },
      delayMs: 3_600_000,
    });
    const html = await (await as.admin.get(`/ui/tasks/${t.id}`)).text();
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('answer unknown console paths and bad ids with an HTML 404, and bad filters with 422 naming the field', async () => {
    expect((await as.admin.get('/ui/nope')).status).toBe(404);
    expect((await as.admin.get('/ui/tasks/not-a-uuid')).status).toBe(404);
    const bad = await as.admin.get('/ui/tasks?status=bogus&since=yesterday&queue=a%20b');
    expect(bad.status).toBe(422);
    const text = await bad.text();
    for (const field of ['status', 'since', 'queue']) expect(text).toContain(`${field}:`);
    expect((await as.admin.get('/ui/tasks?cursor=garbage')).status).toBe(400);
  });
});

describe('actions', () => {
  it('go through the API’s services and are audited with the signed-in user as actor', async () => {
    const csrf = await as.ops.csrf('/ui');
    // Cancel another user's task (the API audits that), then pause and resume a queue.
    const t = await submit(dev.token, { ...later, queue: 'audited' });
    expect((await as.ops.post(`/ui/tasks/${t.id}/cancel`, { _csrf: csrf })).status).toBe(303);
    expect((await as.ops.post('/ui/queues/audited/pause', { _csrf: csrf })).headers.get('location')).toBe(
      '/ui/queues?done=paused&n=0&name=audited',
    );
    expect((await as.ops.post('/ui/queues/audited/resume', { _csrf: csrf })).status).toBe(303);
    const rows = await stack.database.rows<{ action: string; target: string; actor_id: string }>(
      sql`SELECT action, target, actor_id FROM audit_log WHERE actor_id = ${ops.id} ORDER BY id`,
    );
    expect(rows.map((r) => [r.action, r.target])).toEqual(
      expect.arrayContaining([
        ['task.cancel', t.id],
        ['queue.pause', 'audited'],
        ['queue.resume', 'audited'],
      ]),
    );
  });

  it('cancels in bulk: the selection, after a confirmation with the count, chunk by chunk', async () => {
    const csrf = await as.dev.csrf();
    const tasks = await Promise.all([1, 2, 3].map(() => submit(dev.token, later)));
    const ids = tasks.map((t) => t.id);
    const confirm = await as.dev.post('/ui/tasks/cancel', { _csrf: csrf, scope: 'selected', id: ids });
    const page = await confirm.text();
    expect(page).toMatch(/Cancel <strong>3<\/strong> tasks\?/);
    // What the script does: one chunk per request, answered with JSON.
    const chunk = await as.dev.post(
      '/ui/tasks/cancel',
      { _csrf: csrf, scope: 'selected', id: ids, confirm: '3', chunk: '1' },
      { Accept: 'application/json' },
    );
    expect(chunk.status).toBe(200);
    expect(await chunk.json()).toEqual({
      processed: 3,
      counts: { cancelled: 3, stopping: 0, ended: 0 },
      cursor: null,
      done: true,
    });
    const [bulk] = await stack.database.rows<{ data: Record<string, unknown> }>(
      sql`SELECT data FROM audit_log WHERE actor_id = ${dev.id} AND action = 'task.cancel_bulk' ORDER BY id DESC LIMIT 1`,
    );
    expect(bulk!.data).toMatchObject({ cancelled: 3, scope: 'selected', via: 'console' });
  });

  it('shows a new user’s token once, on the answer to the form, and never in the list', async () => {
    const csrf = await as.admin.csrf('/ui/users');
    const res = await as.admin.post('/ui/users', {
      _csrf: csrf,
      name: 'console-made',
      role: 'ops',
      rateLimitRps: '',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const token = /id="new-token"[^>]*value="(prc_[0-9A-Za-z]+)"/.exec(await res.text())![1]!;
    expect((await stack.request('GET', '/v1/me', { token })).status).toBe(200);
    expect(await (await as.admin.get('/ui/users')).text()).not.toContain(token);
    const dup = await as.admin.post('/ui/users', { _csrf: csrf, name: 'console-made', role: 'ops' });
    expect(dup.status).toBe(409);
    const bad = await as.admin.post('/ui/users', { _csrf: csrf, name: ' ', role: 'root', rateLimitRps: 'x' });
    expect(bad.status).toBe(422);
    const text = await bad.text();
    for (const field of ['name:', 'role:', 'rateLimitRps:']) expect(text).toContain(field);
  });
});
