import { OpenAPIHono } from '@hono/zod-openapi';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import { routes } from './routes';

export interface DocumentOptions {
  version: string;
  catalog: TaskCatalog;
  /** The `servers` entry: where this deployment answers. */
  serverUrl: string;
}

/**
 * The OpenAPI 3.1 document of the API, generated from the route table and its zod schemas
 * alone (no handler is needed to describe a route): `/openapi.json` serves it, `procurator
 * openapi` prints it, and the typed client's types are generated from it.
 */
export function openApiDocument(o: DocumentOptions): Record<string, unknown> {
  const doc = new OpenAPIHono();
  for (const { route } of Object.values(routes)) doc.openapi(route, () => new Response(null));
  doc.openAPIRegistry.registerComponent('securitySchemes', 'apiToken', {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Token',
    description: 'An API token (prc_…); Authorization: Bearer works too.',
  });
  doc.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'The same API token as a bearer token.',
  });
  const types = o.catalog
    .list()
    .map((t) => `\`${t.type}\` (${t.minRole})`)
    .join(', ');
  return doc.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Procurator',
      version: o.version,
      description: `Asynchronous task gateway and executor. Task types: ${types}. Errors are application/problem+json (RFC 9457).`,
      license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
    },
    servers: [{ url: o.serverUrl, description: 'This deployment' }],
    tags: [
      { name: 'tasks', description: 'Submit tasks and follow them.' },
      { name: 'schedules', description: 'Recurring schedules that fire tasks.' },
      { name: 'dlq', description: 'Dead tasks: replay or discard them.' },
      { name: 'queues', description: 'Queues as objects: their state, pause and resume.' },
      { name: 'logs', description: 'Task events and the audit log.' },
      { name: 'users', description: 'Users and their tokens.' },
      { name: 'integrations', description: 'What other systems send in.' },
      { name: 'callbacks', description: 'How callbacks are verified.' },
      { name: 'system', description: 'Health, metrics and this document.' },
    ],
  }) as unknown as Record<string, unknown>;
}
