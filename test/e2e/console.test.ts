import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import {
  CHROMIUM_PATH,
  DESKTOP,
  PHONE,
  launchChromium,
  readmeScreenshot,
  runAxe,
  screenshot,
  writeAxeReport,
} from './browser';
import type { AxeViolation } from './browser';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';

// The web console in a real browser (Debian's Chromium, driven by playwright-core) against a
// live stack: `serve` and a `worker` process on Redis and PostgreSQL (README, "Web console").

// In CI a missing Chromium fails the tests (.ci/run installs it); elsewhere they are skipped, saying why.
const noBrowser = !existsSync(CHROMIUM_PATH) && !process.env.CI;
if (noBrowser) console.warn(`skipped: ${CHROMIUM_PATH} is missing (.ci/run installs Debian's chromium)`);

let cluster: Cluster;
let base: string;
let admin: string;
let devToken: string;
let browser: Browser;
let target: Server;
let targetUrl: string;
/** Requests the target has seen per /flaky/ path: the first of each fails for good (400); the rest, and every other path, 200. */
const seen = new Map<string, number>();
/** Problems any page reported: script errors, CSP refusals, failed console requests. */
const pageProblems: string[] = [];

beforeAll(async () => {
  if (noBrowser) return;
  target = createServer((req, res) => {
    const n = (seen.get(req.url ?? '') ?? 0) + 1;
    seen.set(req.url ?? '', n);
    res.writeHead(n === 1 && req.url?.startsWith('/flaky/') ? 400 : 200, {
      'Content-Type': 'application/json',
    });
    res.end(JSON.stringify({ try: n }));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  [cluster, browser] = await Promise.all([
    startCluster({
      label: 'console',
      workers: 1,
      env: {
        WORKER_METRICS_PORT: '0',
        WORKER_BLOCK_MS: '200',
        RETRY_BASE_MS: '50',
        RETRY_MAX_MS: '200',
        OUTBOUND_ALLOW_PRIVATE: 'true',
      },
    }),
    launchChromium(),
  ]);
  base = `http://127.0.0.1:${cluster.ports[0]}`;
  admin = cluster.token;
  const dev = await callApi(cluster.ports[0]!, admin, 'POST', '/v1/users', { name: 'dana-dev', role: 'dev' });
  devToken = String(dev.body.token);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()));
});

const api = (method: string, path: string, body?: unknown, token = admin) =>
  callApi(cluster.ports[0]!, token, method, path, body);

async function submit(body: Record<string, unknown>, token = admin): Promise<TaskView> {
  const res = await api('POST', '/v1/tasks', body, token);
  expect(res.status).toBe(202);
  return res.body as unknown as TaskView;
}

/** A browser context signed in with `token`, at `viewport`. */
async function signedIn(token: string, viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, baseURL: base });
  const page = await context.newPage();
  watch(page);
  await page.goto('/ui/sign-in');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/ui/sign-in'));
  return { context, page };
}

function watch(page: Page): void {
  page.on('pageerror', (err) => pageProblems.push(`${page.url()}: ${err.message}`));
  page.on('console', (m) => {
    // A page answered 403 or 404 on purpose is logged as a failed load of the page itself.
    if (m.type() === 'error' && m.location().url !== page.url())
      pageProblems.push(`${page.url()}: ${m.text()}`);
  });
}

describe.skipIf(noBrowser)('the web console in Chromium', () => {
  it('signs in with an API token and lands on the overview', async () => {
    const { context, page } = await signedIn(admin);
    expect(new URL(page.url()).pathname).toBe('/ui');
    await expect(page.getByRole('heading', { level: 1, name: 'Overview' }).isVisible()).resolves.toBe(true);
    const cookie = (await context.cookies()).find((c) => c.name === 'procurator_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
    // The cookie's secret is no API token, and no script can read it.
    expect(cookie.value).not.toContain('prc_');
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await context.close();
  });

  it('shows a task submitted from the API reach succeeded in the list, without a reload', async () => {
    const { context, page } = await signedIn(admin);
    const streamed = page.waitForResponse((r) => new URL(r.url()).pathname === '/ui/api/stream');
    await page.goto('/ui/tasks');
    // The page listens to the live tail (then it polls only every 15 s, as a safety net).
    expect((await streamed).status()).toBe(200);
    await page.waitForTimeout(2500); // past the first poll, made before the stream was open
    // A mark a reload would wipe out.
    await page.evaluate(() => ((window as unknown as { mark: number }).mark = 42));
    const task = await submit({ type: 'demo.sleep', payload: { ms: 1500 } });
    const row = page.locator(`tr[data-key="${task.id}"]`);
    // Well before the next safety poll: the stream's events asked for the update.
    await row.waitFor({ timeout: 8_000 });
    await row.locator('[data-status="succeeded"]').waitFor({ timeout: 8_000 });
    expect(await page.evaluate(() => (window as unknown as { mark?: number }).mark)).toBe(42);
    await context.close();
  });

  it('finds a dead task, shows why it failed, replays it, and shows it succeed', async () => {
    const task = await submit({ type: 'http', payload: { url: `${targetUrl}/flaky/one`, method: 'GET' } });
    await waitForTaskStatus(cluster.ports[0]!, admin, task.id, ['dead']);
    const { context, page } = await signedIn(admin);
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Dead letters' })
      .click();
    await page.getByRole('link', { name: `Task ${task.id}` }).click();
    await page.getByRole('heading', { name: 'Last error' }).waitFor();
    expect(await page.locator('.error-message').innerText()).toMatch(/400/);
    await page.evaluate(() => ((window as unknown as { mark: number }).mark = 7));
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.waitForURL(`**/ui/tasks/${task.id}?done=replayed&n=1`);
    await page.getByRole('status').filter({ hasText: 'Replayed 1 dead task' }).waitFor();
    // Then, on this page and without a reload, it succeeds.
    await page.evaluate(() => ((window as unknown as { mark: number }).mark = 8));
    await page.locator('#task-summary [data-status="succeeded"]').waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { mark?: number }).mark)).toBe(8);
    await page.locator('#task-events').getByText('replayed', { exact: true }).waitFor();
    await context.close();
  });

  it('deletes dead tasks in bulk, showing the progress while it runs', async () => {
    const tasks = Array.from({ length: 150 }, () => ({
      type: 'demo.fail',
      queue: 'bulk',
      payload: { message: 'no', retryable: false },
    }));
    const res = await api('POST', '/v1/tasks/batch', { tasks });
    expect(res.status).toBe(202);
    const ids = (res.body.tasks as TaskView[]).map((t) => t.id);
    // Every one of them, not the first and last: the workers end them in any order.
    for (const id of ids) await waitForTaskStatus(cluster.ports[0]!, admin, id, ['dead']);
    const { context, page } = await signedIn(admin);
    await page.goto('/ui/dlq?queue=bulk');
    await page.getByRole('button', { name: 'Delete all matching…' }).click();
    await page.getByText('Delete for good 150 dead tasks?').waitFor();
    page.on('dialog', (d) => void d.accept());
    const chunks: number[] = [];
    page.on('response', (r) => {
      if (r.url().endsWith('/ui/dlq/delete') && r.request().method() === 'POST') chunks.push(r.status());
    });
    await page.getByRole('button', { name: 'Delete for good 150 dead tasks' }).click();
    await page.getByRole('status').filter({ hasText: 'Finished: 150 deleted' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('progress').getAttribute('max')).toBe('150');
    expect(await page.locator('progress').evaluate((p) => (p as HTMLProgressElement).value)).toBe(150);
    // Two chunks of at most 100, each its own request: the page stayed.
    expect(chunks).toEqual([200, 200]);
    const left = await api('GET', '/v1/dlq?queue=bulk');
    expect(left.body.items).toEqual([]);
    await context.close();
  });

  it('keeps a dev out of the operators’ and admins’ pages, even by URL', async () => {
    const { context, page } = await signedIn(devToken);
    expect(new URL(page.url()).pathname).toBe('/ui/tasks');
    const nav = page.getByRole('navigation', { name: 'Console' });
    expect(await nav.getByRole('link').allInnerTexts()).toEqual(['Tasks', 'Schedules', 'Logs']);
    for (const path of ['/ui/dlq', '/ui/queues', '/ui/users']) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(403);
      await page.getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
    }
    const overview = await page.goto('/ui');
    expect(new URL(overview!.url()).pathname).toBe('/ui/tasks');
    await context.close();
  });

  it('refuses a form posted without the CSRF token', async () => {
    const { context, page } = await signedIn(admin);
    await page.goto('/ui/queues');
    const task = await submit({ type: 'demo.echo', queue: 'csrf-check', delayMs: 3_600_000 });
    await page.reload();
    // The page's own form, with its CSRF field taken out, posted by the browser.
    const form = page.locator('form[action="/ui/queues/csrf-check/pause"]');
    await form.evaluate((f) => f.querySelector('input[name="_csrf"]')?.remove());
    await form.getByRole('button').click();
    await page.waitForLoadState();
    expect(await page.getByRole('alert').innerText()).toContain('CSRF');
    // And a request made by hand with the session cookie.
    const forged = await context.request.post(`${base}/ui/sign-out`, { form: { x: '1' } });
    expect(forged.status()).toBe(403);
    const queues = await api('GET', '/v1/queues');
    expect(
      (queues.body.items as { name: string; paused: boolean }[]).find((q) => q.name === 'csrf-check')?.paused,
    ).toBe(false);
    expect((await api('GET', `/v1/tasks/${task.id}`)).body.status).toBe('scheduled');
    await context.close();
  });

  it('tails the logs live', async () => {
    const { context, page } = await signedIn(admin);
    await page.goto('/ui/logs');
    await page.getByRole('button', { name: 'Start live tail' }).click();
    const task = await submit({ type: 'demo.echo', payload: { tail: true } });
    await page.locator(`#tail-rows a[title="${task.id}"]`).first().waitFor({ timeout: 10_000 });
    await context.close();
  });

  it('renders every page at desktop and phone widths with no serious accessibility violation', async () => {
    const done = await submit({
      type: 'demo.echo',
      payload: { order: 1042, items: ['tea', 'milk'] },
      callbackUrl: `${targetUrl}/callback`,
    });
    const dead = await submit({
      type: 'demo.fail',
      payload: { message: 'the upstream said no', retryable: false },
    });
    const schedule = await api('POST', '/v1/schedules', {
      name: 'nightly-report',
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      task: { type: 'demo.echo', payload: { report: 'daily' } },
    });
    expect(schedule.status).toBe(201);
    await waitForTaskStatus(cluster.ports[0]!, admin, done.id, ['succeeded']);
    await waitForTaskStatus(cluster.ports[0]!, admin, dead.id, ['dead']);
    const pages: [string, string][] = [
      ['overview', '/ui'],
      ['tasks', '/ui/tasks'],
      ['task', `/ui/tasks/${done.id}`],
      ['task-dead', `/ui/tasks/${dead.id}`],
      ['dlq', '/ui/dlq'],
      ['schedules', '/ui/schedules'],
      ['schedule', `/ui/schedules/${String(schedule.body.id)}`],
      ['queues', '/ui/queues'],
      ['users', '/ui/users'],
      ['logs', '/ui/logs'],
    ];
    const report: Record<string, { violations: AxeViolation[]; passes: number }> = {};
    for (const [width, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      const { context, page } = await signedIn(admin, viewport);
      const anon = await browser.newPage({ viewport, baseURL: base });
      watch(anon);
      await anon.goto('/ui/sign-in');
      const all: [string, Page][] = [['sign-in', anon]];
      for (const [name, path] of pages) {
        await page.goto(path);
        all.push([name, page]);
        await check(name, page);
      }
      await check('sign-in', anon);
      await anon.close();
      await context.close();

      async function check(name: string, p: Page) {
        await p.waitForLoadState('load');
        await screenshot(p, `${name}-${width}`);
        if (width === 'desktop' && name === 'overview') await readmeScreenshot(p, 'console-overview');
        if (width === 'desktop' && name === 'task') await readmeScreenshot(p, 'console-task');
        // Nothing wider than the screen: no sideways scrolling of the page itself.
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${name} at ${width} overflows by ${overflow}px`).toBeLessThanOrEqual(0);
        const r = await runAxe(p);
        report[`${name}-${width}`] = r;
      }
    }
    await writeAxeReport(report);
    const serious = Object.entries(report).flatMap(([page, r]) =>
      r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${page}: ${v.id}`),
    );
    expect(serious).toEqual([]);
  });

  it('is usable from the keyboard: a skip link first, a visible focus', async () => {
    const { context, page } = await signedIn(admin);
    await page.goto('/ui/tasks');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Skip to content');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).toBe('solid');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await context.close();
  });

  it('saw no script error and no CSP refusal on any page', () => {
    expect(pageProblems).toEqual([]);
  });
});
