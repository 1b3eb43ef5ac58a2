import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../lib/auth/tokens';
import { ConsoleClient } from '../helpers/console-client';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// Web console sessions (README, "Web console"): sign-in, the cookie, idle expiry, revocation
// with the token, sign-out, and the sign-in form's own defences.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ worker: false, config: { UI_SESSION_IDLE_MS: '60000' } });
});
afterAll(async () => {
  await stack.stop();
});

const sessionRows = () =>
  stack.database.rows<{ id: string; user_id: string; token_hash: string; csrf_token: string }>(
    sql`SELECT * FROM ui_sessions ORDER BY created_at`,
  );

describe('sign-in', () => {
  it('opens a session behind an httpOnly, SameSite=Strict cookie that holds only a random secret', async () => {
    const browser = new ConsoleClient(stack.app);
    const res = await browser.signIn(stack.adminToken);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui');
    const line = browser.setCookies.find((l) => l.startsWith('procurator_session='))!;
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Strict/i);
    expect(line).toMatch(/Path=\/ui/);
    expect(line).not.toMatch(/Secure/i); // plain http
    const secret = browser.cookies.get('procurator_session')!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await sessionRows();
    const row = rows.find((r) => r.id === hashToken(secret))!;
    expect(row).toBeDefined();
    // Neither the cookie's secret nor the API token is stored: only their hashes.
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(stack.adminToken);
    expect(row.token_hash).toBe(hashToken(stack.adminToken));
    expect((await browser.get('/ui')).status).toBe(200);
  });

  it('starts a new session on every sign-in and ends the one the browser had', async () => {
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const first = browser.cookies.get('procurator_session')!;
    await browser.signIn(stack.adminToken);
    const second = browser.cookies.get('procurator_session')!;
    expect(second).not.toBe(first);
    const ids = (await sessionRows()).map((r) => r.id);
    expect(ids).toContain(hashToken(second));
    expect(ids).not.toContain(hashToken(first));
  });

  it('sets Secure on the cookie when the console is reached over https', async () => {
    const browser = new ConsoleClient(stack.app, 'https://console.test');
    expect((await browser.signIn(stack.adminToken)).status).toBe(303);
    expect(browser.setCookies.find((l) => l.startsWith('procurator_session='))).toMatch(/Secure/);
  });

  it('lands a dev on its task list, and goes to a `next` inside the console only', async () => {
    const dev = await stack.user('dev');
    const a = new ConsoleClient(stack.app);
    expect((await a.signIn(dev.token)).headers.get('location')).toBe('/ui/tasks');
    const b = new ConsoleClient(stack.app);
    expect((await b.signIn(dev.token, '/ui/logs?q=x')).headers.get('location')).toBe('/ui/logs?q=x');
    for (const evil of [
      '//evil.example/ui',
      'https://evil.example/',
      '/ui//evil.example',
      '/uix',
      '/ui\\evil',
    ]) {
      const c = new ConsoleClient(stack.app);
      expect((await c.signIn(dev.token, evil)).headers.get('location'), evil).toBe('/ui/tasks');
    }
  });

  it('refuses a wrong, malformed or empty token with the same message, opening no session', async () => {
    const before = (await sessionRows()).length;
    for (const token of ['prc_' + 'x'.repeat(49), 'nonsense', '', stack.adminToken + 'x']) {
      const browser = new ConsoleClient(stack.app);
      const res = await browser.signIn(token);
      expect(res.status, token).toBe(401);
      expect(await res.text()).toContain('That token is not valid');
      expect(browser.cookies.has('procurator_session')).toBe(false);
    }
    expect((await sessionRows()).length).toBe(before);
  });

  it('refuses a sign-in form that this browser was not given (login CSRF) and a foreign Origin', async () => {
    const browser = new ConsoleClient(stack.app);
    // No sign-in cookie: a form posted from another site.
    const forged = await browser.post('/ui/sign-in', { _csrf: 'a'.repeat(43), token: stack.adminToken });
    expect(forged.status).toBe(403);
    expect(browser.cookies.has('procurator_session')).toBe(false);
    const page = await (await browser.get('/ui/sign-in')).text();
    const formSecret = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const wrong = await browser.post('/ui/sign-in', {
      _csrf: formSecret.replace(/.$/, 'A'),
      token: stack.adminToken,
    });
    expect(wrong.status).toBe(403);
    const foreign = await browser.post(
      '/ui/sign-in',
      { _csrf: formSecret, token: stack.adminToken },
      { Origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    expect(browser.cookies.has('procurator_session')).toBe(false);
  });

  it('refuses a deprecated API_TOKENS entry (it has no user to audit as)', async () => {
    const legacy = await startStack({
      worker: false,
      config: { API_TOKENS: '{"legacy-admin-token":"admin"}' },
    });
    try {
      const browser = new ConsoleClient(legacy.app);
      const res = await browser.signIn('legacy-admin-token');
      expect(res.status).toBe(401);
      expect(await res.text()).toContain('API_TOKENS');
    } finally {
      await legacy.stop();
    }
  });
});

describe('a session', () => {
  it('sends a browser without one to the sign-in page, and the script’s requests get 401', async () => {
    const browser = new ConsoleClient(stack.app);
    const page = await browser.get('/ui/tasks?status=dead');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe(
      `/ui/sign-in?next=${encodeURIComponent('/ui/tasks?status=dead')}`,
    );
    const fragment = await browser.get('/ui/fragments/tasks');
    expect(fragment.status).toBe(401);
    expect(fragment.headers.get('content-type')).toMatch(/problem\+json/);
    browser.cookies.set('procurator_session', 'made-up');
    expect((await browser.get('/ui/tasks')).status).toBe(303);
  });

  it('ends after the idle time, judged by the database clock; background refreshes do not keep it alive', async () => {
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const id = hashToken(browser.cookies.get('procurator_session')!);
    // Last seen 50 s ago: still alive (idle time 60 s); a background refresh leaves it so.
    await stack.database.rows(
      sql`UPDATE ui_sessions SET last_seen_at = now() - interval '50 seconds' WHERE id = ${id}`,
    );
    expect((await browser.get('/ui/fragments/tasks', { 'X-Console-Refresh': '1' })).status).toBe(200);
    const [seen] = await stack.database.rows<{ age: number }>(
      sql`SELECT extract(epoch FROM now() - last_seen_at)::float AS age FROM ui_sessions WHERE id = ${id}`,
    );
    expect(seen!.age).toBeGreaterThan(45);
    // A request the user makes does.
    expect((await browser.get('/ui/tasks')).status).toBe(200);
    const [touched] = await stack.database.rows<{ age: number }>(
      sql`SELECT extract(epoch FROM now() - last_seen_at)::float AS age FROM ui_sessions WHERE id = ${id}`,
    );
    expect(touched!.age).toBeLessThan(5);
    await stack.database.rows(
      sql`UPDATE ui_sessions SET last_seen_at = now() - interval '61 seconds' WHERE id = ${id}`,
    );
    const res = await browser.get('/ui/tasks');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/ui\/sign-in/);
  });

  it('ends when its token is rotated, or its user deleted (on the API or in the console)', async () => {
    const ops = await stack.user('ops');
    const a = new ConsoleClient(stack.app);
    await a.signIn(ops.token);
    expect((await a.get('/ui/dlq')).status).toBe(200);
    expect((await stack.request('POST', `/v1/users/${ops.id}/token`)).status).toBe(200);
    expect((await a.get('/ui/dlq')).status).toBe(303);
    // Its row is gone too, and the cookie cleared.
    expect(a.cookies.has('procurator_session')).toBe(false);

    const dev = await stack.user('dev');
    const b = new ConsoleClient(stack.app);
    await b.signIn(dev.token);
    const admin = new ConsoleClient(stack.app);
    await admin.signIn(stack.adminToken);
    const csrf = await admin.csrf('/ui/users');
    expect((await admin.post(`/ui/users/${dev.id}/delete`, { _csrf: csrf })).status).toBe(303);
    expect((await b.get('/ui/tasks')).status).toBe(303);
  });

  it('signs out: the row goes, the cookie is cleared, the old cookie opens nothing', async () => {
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(stack.adminToken);
    const secret = browser.cookies.get('procurator_session')!;
    const csrf = await browser.csrf();
    const res = await browser.post('/ui/sign-out', { _csrf: csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/sign-in?done=signed-out');
    expect(browser.cookies.has('procurator_session')).toBe(false);
    expect((await sessionRows()).some((r) => r.id === hashToken(secret))).toBe(false);
    browser.cookies.set('procurator_session', secret);
    expect((await browser.get('/ui/tasks')).status).toBe(303);
  });

  it('audits sign-in and sign-out with the user as the actor', async () => {
    const dev = await stack.user('dev', 'audited-dev');
    const browser = new ConsoleClient(stack.app);
    await browser.signIn(dev.token);
    await browser.post('/ui/sign-out', { _csrf: await browser.csrf() });
    const rows = await stack.database.rows<{ action: string; actor_id: string; actor_name: string }>(
      sql`SELECT action, actor_id, actor_name FROM audit_log WHERE actor_id = ${dev.id} ORDER BY id`,
    );
    expect(rows.map((r) => r.action)).toEqual(['console.sign_in', 'console.sign_out']);
    expect(rows[0]!.actor_name).toBe('audited-dev');
  });
});

describe('failed sign-ins', () => {
  it('spend the address’s budget shared with the API: past it, 429 even for a good token', async () => {
    const limited = await startStack({ worker: false, config: { AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      const browser = new ConsoleClient(limited.app);
      for (let i = 0; i < 3; i++) expect((await browser.signIn('nonsense')).status).toBe(401);
      const blocked = await browser.signIn(limited.adminToken);
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
      // The API's budget is the same one.
      expect((await limited.request('GET', '/v1/me')).status).toBe(429);
    } finally {
      await limited.stop();
    }
  });
});
