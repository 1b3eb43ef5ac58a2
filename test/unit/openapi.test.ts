import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../handlers/routes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// /openapi.json is generated from the route table: it must document exactly the routes the
// app serves, each fully (operationId, summary, security, typed answers), and pass Redocly's
// recommended lint with no errors. /docs must work with no internet.

const run = promisify(execFile);

interface Operation {
  operationId?: string;
  summary?: string;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string; type?: string } }> }>;
}
interface Document {
  openapi: string;
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

let stack: Stack;
let doc: Document;
let dir: string;
beforeAll(async () => {
  stack = await startStack({ worker: false });
  doc = (await (await stack.request('GET', '/openapi.json', { token: null })).json()) as Document;
  dir = await mkdtemp(path.join(tmpdir(), 'procurator-openapi-'));
});
afterAll(async () => {
  await stack.stop();
  await rm(dir, { recursive: true, force: true });
});

const operations = () =>
  Object.entries(doc.paths).flatMap(([p, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${p}`, op })),
  );

describe('/openapi.json', () => {
  it('documents every route the app serves, and serves every route it documents', () => {
    const served = new Set(
      stack.app.routes
        // Not API operations: /docs's static files and the web console's pages (README, "Web console").
        .filter((r) => r.method !== 'ALL' && r.path !== '/docs/assets/:file' && !/^\/ui(\/|$)/.test(r.path))
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`),
    );
    const documented = new Set(operations().map((o) => o.key));
    expect([...documented].sort()).toEqual([...served].sort());
    expect(documented.size).toBe(Object.keys(routes).length);
  });

  it('gives each operation a unique camelCase operationId, a summary, security and typed answers', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers?.length).toBeGreaterThan(0);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['apiToken', 'bearer']);
    const ids = operations().map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { key, op } of operations()) {
      expect(op.operationId, key).toMatch(/^[a-z][A-Za-z0-9]*$/);
      expect(op.summary, key).toBeTruthy();
      expect(Array.isArray(op.security), key).toBe(true);
      const isPublic = !key.includes(' /v1/');
      expect(op.security!.length === 0, key).toBe(isPublic);
      const ok = Object.entries(op.responses).filter(([s]) => s.startsWith('2'));
      expect(ok.length, key).toBeGreaterThan(0);
      for (const [status, r] of ok) {
        const json = r.content?.['application/json']?.schema;
        // A JSON answer names its component schema (Task, TaskPage, Problem, ...).
        if (json && json.type !== 'object')
          expect(json.$ref, `${key} ${status}`).toMatch(/^#\/components\/schemas\//);
      }
      if (!isPublic) {
        for (const s of ['401', '403', '429'])
          expect(op.responses[s]?.content?.['application/problem+json']?.schema?.$ref, `${key} ${s}`).toBe(
            '#/components/schemas/Problem',
          );
      }
    }
    for (const name of ['Task', 'TaskEvent', 'Problem', 'Submission', 'TaskPage', 'Queue', 'User', 'LogItem'])
      expect(Object.keys(doc.components.schemas)).toContain(name);
  });

  it('passes `redocly lint` with the recommended ruleset, with no errors', async () => {
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));
    const bin = path.resolve(import.meta.dirname, '../../node_modules/.bin/redocly');
    const out = await run(bin, ['lint', file, '--extends', 'recommended', '--format', 'json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      timeout: 60_000,
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    const report = JSON.parse(out.stdout) as {
      totals: { errors: number };
      problems: { ruleId: string; severity: string; message: string }[];
    };
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.totals.errors).toBe(0);
  });
});

describe('/docs', () => {
  it('is Swagger UI from local assets: no script or style from another origin, no inline script', async () => {
    const res = await stack.request('GET', '/docs', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const page = await res.text();
    expect(page).not.toMatch(/(src|href)="https?:/);
    expect(page).not.toMatch(/<script>(?!<\/script>)/);
    const assets = [...page.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(
      expect.arrayContaining(['/docs/assets/swagger-ui-bundle.js', '/docs/assets/init.js']),
    );
    for (const a of assets) {
      const asset = await stack.request('GET', a, { token: null });
      expect(asset.status, a).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, a).toBeGreaterThan(100);
    }
    const init = await (await stack.request('GET', '/docs/assets/init.js', { token: null })).text();
    expect(init).toContain("url: '/openapi.json'");
    expect((await stack.request('GET', '/docs/assets/secret.txt', { token: null })).status).toBe(404);
  });
});
