import { Hono } from 'hono';
import { z } from 'zod';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import { submissionSchema } from '../lib/tasks/submission';
import { TASK_STATUSES } from '../lib/tasks/task';
import type { AppEnv } from './context';
import { ROUTE_ROLES } from './route-roles';

/** One line per route, for the document and the page. Keys match ROUTE_ROLES. */
const SUMMARIES: Record<string, string> = {
  'POST /v1/tasks': 'Submit a task (202). Idempotency-Key: same key and body replays the original (200).',
  'POST /v1/tasks/batch': 'Submit 1-1000 tasks, all or nothing.',
  'GET /v1/tasks': 'List tasks newest first (dev: own tasks).',
  'GET /v1/tasks/:id': 'Read a task.',
  'POST /v1/tasks/:id/cancel': 'Cancel a task: 200 cancelled, 202 stopping, 409 already ended.',
  'GET /v1/tasks/:id/events': "A task's events, oldest first.",
  'GET /v1/system/info': 'Version, backends and task types.',
  'GET /v1/system/queues': 'Per-queue length, pending, delayed, dead, consumers, paused.',
  'GET /v1/me': 'Who the token belongs to.',
  'GET /v1/logs': 'Task events and audit entries, filtered and paginated.',
  'POST /v1/users': 'Create a user; its token is shown once.',
  'GET /v1/users': 'List users.',
  'POST /v1/users/:id/token': "Rotate a user's token.",
  'DELETE /v1/users/:id': 'Revoke a user.',
  'GET /v1/dlq': 'Dead tasks with payload and last error.',
  'POST /v1/dlq/replay': 'Replay dead tasks by ids, type or queue.',
  'POST /v1/dlq/:id/replay': 'Replay one dead task.',
  'DELETE /v1/dlq/:id': 'Discard a dead task.',
  'POST /v1/queues/:name/pause': 'Pause a queue: it starts nothing until resumed.',
  'POST /v1/queues/:name/resume': 'Resume a paused queue.',
};

const problem = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

const task = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    type: { type: 'string' },
    queue: { type: 'string' },
    priority: { enum: ['high', 'normal', 'low'] },
    status: { enum: [...TASK_STATUSES] },
    payload: { type: 'object' },
    result: {},
    lastError: {
      type: ['object', 'null'],
      properties: { message: { type: 'string' }, code: { type: 'string' }, retryable: { type: 'boolean' } },
    },
    attempts: { type: 'integer' },
    maxAttempts: { type: 'integer' },
    timeoutMs: { type: 'integer' },
    runAt: { type: ['string', 'null'], format: 'date-time' },
    callbackUrl: { type: ['string', 'null'] },
    metadata: { type: 'object' },
    createdBy: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: ['string', 'null'], format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

/** The OpenAPI 3.1 document of this deployment, built from the route table and zod schemas. */
export function openApiDocument(version: string, catalog: TaskCatalog): Record<string, unknown> {
  const submission = z.toJSONSchema(submissionSchema, { io: 'input', unrepresentable: 'any' });
  delete (submission as { $schema?: string }).$schema;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, role] of Object.entries(ROUTE_ROLES)) {
    const [method, route] = key.split(' ') as [string, string];
    const path = route.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...route.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const body =
      key === 'POST /v1/tasks'
        ? { $ref: '#/components/schemas/Submission' }
        : key === 'POST /v1/tasks/batch'
          ? {
              type: 'object',
              properties: { tasks: { type: 'array', items: { $ref: '#/components/schemas/Submission' } } },
            }
          : undefined;
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = {
      summary: SUMMARIES[key] ?? key,
      description: `Needs the ${role} role or higher.`,
      ...(params.length ? { parameters: params } : {}),
      ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
      responses: {
        default: {
          description: 'problem+json on error',
          content: { 'application/problem+json': { schema: problem } },
        },
      },
      security: [{ apiToken: [] }, { bearer: [] }],
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Procurator',
      version,
      description: `Asynchronous task gateway. Task types: ${catalog
        .list()
        .map((t) => t.type)
        .join(', ')}.`,
    },
    components: {
      securitySchemes: {
        apiToken: { type: 'apiKey', in: 'header', name: 'X-API-Token' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
      schemas: { Submission: submission, Task: task, Problem: problem },
    },
    paths,
  };
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** GET /openapi.json and GET /docs (a page that works offline: no CDN, no script). */
export function openApiRouter(version: string, catalog: TaskCatalog): Hono<AppEnv> {
  const doc = openApiDocument(version, catalog);
  const rows = Object.entries(ROUTE_ROLES)
    .map(
      ([key, role]) =>
        `<tr><td><code>${escape(key)}</code></td><td>${role}</td><td>${escape(SUMMARIES[key] ?? '')}</td></tr>`,
    )
    .join('\n');
  const types = catalog
    .list()
    .map((t) => `<li><code>${escape(t.type)}</code>: ${escape(t.description)}</li>`)
    .join('\n');
  const page = `<!doctype html><html><head><meta charset="utf-8"><title>Procurator API</title>
<style>body{font:15px system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}td{padding:.3em .8em;border-bottom:1px solid #ddd}</style></head>
<body><h1>Procurator ${escape(version)}</h1>
<p>Authenticate with <code>X-API-Token</code> or <code>Authorization: Bearer</code>. Errors are <code>application/problem+json</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<h2>Routes</h2><table><tr><th>route</th><th>role</th><th></th></tr>${rows}</table>
<h2>Task types</h2><ul>${types}</ul>
<h2>Submission</h2><pre>${escape(JSON.stringify((doc.components as { schemas: { Submission: unknown } }).schemas.Submission, null, 2))}</pre>
</body></html>`;
  const r = new Hono<AppEnv>();
  r.get('/openapi.json', (c) => c.json(doc));
  r.get('/docs', (c) => c.html(page));
  return r;
}
