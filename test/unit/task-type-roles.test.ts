import { afterEach, describe, expect, it } from 'vitest';
import type { Stack } from '../helpers/stack';
import { startStack, taskCount } from '../helpers/stack';

// TASK_TYPE_ROLES: a dev must not start pg.backup against production targets or post into
// the operators' Feishu chat. Authorization is decided at submission, for one task and for a
// whole batch alike.

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const BACKUP = { BACKUP_TARGETS: JSON.stringify({ main: 'postgres://postgres@127.0.0.1:5432/postgres' }) };

describe('roles per task type', () => {
  it('refuses pg.backup and feishu.notify to a dev with 403 naming the type and the role, storing nothing', async () => {
    stack = await startStack({ worker: false, config: BACKUP });
    const dev = await stack.user('dev');
    for (const body of [
      { type: 'pg.backup', payload: { target: 'main' } },
      { type: 'feishu.notify', payload: { text: 'fake alert' } },
    ]) {
      const res = await stack.request('POST', '/v1/tasks', { token: dev.token, body });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await res.json()) as { detail: string };
      expect(problem.detail).toContain(body.type);
      expect(problem.detail).toContain('ops');
    }
    expect(await taskCount(stack)).toBe(0);
    const ops = await stack.user('ops');
    const ok = await stack.request('POST', '/v1/tasks', {
      token: ops.token,
      body: { type: 'pg.backup', payload: { target: 'main' } },
    });
    expect(ok.status).toBe(202);
  });

  it('refuses a whole batch with 403 when one of its types needs a higher role', async () => {
    stack = await startStack({ worker: false, config: BACKUP });
    const dev = await stack.user('dev');
    const res = await stack.request('POST', '/v1/tasks/batch', {
      token: dev.token,
      body: {
        tasks: [
          { type: 'demo.echo' },
          { type: 'pg.backup', payload: { target: 'main' } },
          { type: 'demo.echo', payload: { x: 1 } },
        ],
      },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { detail: string }).detail).toContain('pg.backup');
    expect(await taskCount(stack)).toBe(0);
  });

  it('takes TASK_TYPE_ROLES over each type’s own role, keeps the others, and lists every minRole', async () => {
    stack = await startStack({
      worker: false,
      config: { ...BACKUP, TASK_TYPE_ROLES: JSON.stringify({ 'demo.echo': 'ops', 'feishu.notify': 'dev' }) },
    });
    const dev = await stack.user('dev');
    const submit = (type: string, payload: unknown) =>
      stack!.request('POST', '/v1/tasks', { token: dev.token, body: { type, payload } });
    expect((await submit('demo.echo', {})).status).toBe(403);
    expect((await submit('feishu.notify', { text: 'hi' })).status).toBe(202);
    expect((await submit('pg.backup', { target: 'main' })).status).toBe(403);
    expect((await submit('demo.sleep', { ms: 1 })).status).toBe(202);
    const info = (await (await stack.request('GET', '/v1/system/info', { token: dev.token })).json()) as {
      taskTypes: { type: string; minRole: string }[];
    };
    expect(Object.fromEntries(info.taskTypes.map((t) => [t.type, t.minRole]))).toEqual({
      'demo.echo': 'ops',
      'demo.fail': 'dev',
      'demo.sleep': 'dev',
      'feishu.notify': 'dev',
      http: 'dev',
      'pg.backup': 'ops',
    });
  });
});
