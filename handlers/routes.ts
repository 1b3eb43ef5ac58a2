import { createRoute, z } from '@hono/zod-openapi';
import type { Role } from '../lib/auth/roles';
import { TASK_STATUSES } from '../lib/tasks/task';
import { AlertmanagerNotificationSchema, AlertTaskSchema } from './schemas/alertmanager';
import { CURSOR, IdParams, LIMIT, answer, json } from './schemas/common';
import { BulkReplaySchema, DlqQuery, ReplayedSchema } from './schemas/dlq';
import { LogPageSchema, LogStreamHeaders, LogStreamQuery, LogsQuery } from './schemas/logs';
import { problems } from './schemas/problem';
import { QueueListSchema, QueueNameParams, QueueStateSchema } from './schemas/queues';
import {
  NewScheduleSchema,
  ScheduleListQuery,
  SchedulePageSchema,
  SchedulePatchSchema,
  ScheduleSchema,
} from './schemas/schedules';
import { HealthSchema, JwksSchema, ReadinessSchema, SystemInfoSchema } from './schemas/system';
import {
  BatchSchema,
  SubmissionSchema,
  TaskEventListSchema,
  TaskPageSchema,
  TaskSchema,
} from './schemas/task';
import { CreatedUserSchema, MeSchema, NewUserSchema, TokenSchema, UserSchema } from './schemas/users';

/**
 * The one route table: every route of the API, declared once — method, path, zod request
 * and response schemas, operationId, summary, and the least role (`access`; `public` routes
 * need no token). It drives the routing (each resource module registers its handlers for
 * these), the role check (ROUTE_ROLES is derived from it), /openapi.json, and the typed
 * client (its types are generated from that document).
 */

const AUTHENTICATED: Record<string, string[]>[] = [{ apiToken: [] }, { bearer: [] }];

/** A route of the table: the route as @hono/zod-openapi takes it, and who may call it. */
export interface ApiRoute<R> {
  access: 'public' | Role;
  route: R;
}

function authed<const C extends Parameters<typeof createRoute>[0]>(access: Role, config: C) {
  const route = createRoute({
    ...config,
    security: AUTHENTICATED,
    description: `${config.description ? `${config.description}\n\n` : ''}Needs the ${access} role or higher.`,
  });
  return { access, route } as const;
}

function open<const C extends Parameters<typeof createRoute>[0]>(config: C) {
  return { access: 'public' as const, route: createRoute({ ...config, security: [] }) };
}

/** W3C trace context of a submission (README "Tracing"): never validated, a bad one is ignored. */
const TRACEPARENT = z.string().optional().openapi({
  description:
    'W3C Trace Context: the tasks join this trace (their `traceId`). A malformed value is ignored: the request is served in a new trace.',
  example: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
});

const v1Problems = (...more: Parameters<typeof problems>) => problems(401, 403, 429, 503, ...more);

export const routes = {
  getHealth: open({
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    summary: 'Liveness: the process answers.',
    tags: ['system'],
    responses: { 200: answer(HealthSchema, 'The process lives.') },
  }),
  getReadiness: open({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    summary: 'Readiness: the database and the queue answer.',
    tags: ['system'],
    responses: {
      200: answer(ReadinessSchema, 'Ready.'),
      503: answer(ReadinessSchema, 'A dependency is down; `checks` says which.'),
    },
  }),
  getMetrics: open({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (METRICS_TOKEN as a bearer token when it is set).',
    tags: ['system'],
    responses: {
      200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: z.string() } } },
      ...problems(401),
    },
  }),
  getJwks: open({
    method: 'get',
    path: '/.well-known/jwks.json',
    operationId: 'getJwks',
    summary: 'Public keys that verify callback signatures.',
    tags: ['callbacks'],
    responses: { 200: answer(JwksSchema, 'The JWK set.') },
  }),
  getOpenApi: open({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This document: OpenAPI 3.1, generated from the route table.',
    tags: ['system'],
    responses: { 200: answer(z.record(z.string(), z.unknown()), 'The OpenAPI document.') },
  }),
  getDocs: open({
    method: 'get',
    path: '/docs',
    operationId: 'getDocs',
    summary: 'An interactive explorer of this API (Swagger UI, served locally: works offline).',
    tags: ['system'],
    responses: { 200: { description: 'An HTML page.', content: { 'text/html': { schema: z.string() } } } },
  }),
  submitTask: authed('dev', {
    method: 'post',
    path: '/v1/tasks',
    operationId: 'submitTask',
    summary: 'Submit a task.',
    description:
      'Answers 202 once the task is stored. With `Idempotency-Key`, the same key and body answer 200 with the original task (`Idempotent-Replayed: true`); the same key with another body is 422.',
    tags: ['tasks'],
    request: {
      headers: z.object({
        'idempotency-key': z
          .string()
          .optional()
          .openapi({ description: '1-255 printable ASCII characters.' }),
        traceparent: TRACEPARENT,
      }),
      body: json(SubmissionSchema),
    },
    responses: {
      202: answer(TaskSchema, 'Accepted: stored, and on its way to a worker.'),
      200: answer(TaskSchema, 'An idempotent repeat: the original task.'),
      ...v1Problems(400, 413, 415, 422),
    },
  }),
  submitBatch: authed('dev', {
    method: 'post',
    path: '/v1/tasks/batch',
    operationId: 'submitBatch',
    summary: 'Submit 1 to 1000 tasks, all or none.',
    tags: ['tasks'],
    request: { headers: z.object({ traceparent: TRACEPARENT }), body: json(BatchSchema) },
    responses: {
      202: answer(z.object({ tasks: z.array(TaskSchema) }).openapi('AcceptedBatch'), 'All accepted.'),
      ...v1Problems(400, 413, 415, 422),
    },
  }),
  listTasks: authed('dev', {
    method: 'get',
    path: '/v1/tasks',
    operationId: 'listTasks',
    summary: 'List tasks, newest first (a dev sees its own).',
    tags: ['tasks'],
    request: {
      query: z.strictObject({
        status: z.enum(TASK_STATUSES).optional(),
        type: z.string().min(1).max(200).optional(),
        queue: z.string().min(1).max(64).optional(),
        limit: LIMIT,
        cursor: CURSOR,
      }),
    },
    responses: { 200: answer(TaskPageSchema, 'One page.'), ...v1Problems(400, 422) },
  }),
  getTask: authed('dev', {
    method: 'get',
    path: '/v1/tasks/{id}',
    operationId: 'getTask',
    summary: 'Read a task.',
    tags: ['tasks'],
    request: { params: IdParams },
    responses: { 200: answer(TaskSchema, 'The task.'), ...v1Problems(404) },
  }),
  cancelTask: authed('dev', {
    method: 'post',
    path: '/v1/tasks/{id}/cancel',
    operationId: 'cancelTask',
    summary: 'Cancel a task.',
    description:
      '200: cancelled (it had not started). 202: it runs, and is being stopped. 409: it has ended.',
    tags: ['tasks'],
    request: { params: IdParams },
    responses: {
      200: answer(TaskSchema, 'Cancelled.'),
      202: answer(TaskSchema, 'Being stopped.'),
      ...v1Problems(404, 409),
    },
  }),
  listTaskEvents: authed('dev', {
    method: 'get',
    path: '/v1/tasks/{id}/events',
    operationId: 'listTaskEvents',
    summary: "A task's events, oldest first.",
    tags: ['tasks'],
    request: { params: IdParams },
    responses: { 200: answer(TaskEventListSchema, 'Its history.'), ...v1Problems(404) },
  }),
  getSystemInfo: authed('dev', {
    method: 'get',
    path: '/v1/system/info',
    operationId: 'getSystemInfo',
    summary: 'What this deployment is: version, backends, task types, queues.',
    tags: ['system'],
    responses: { 200: answer(SystemInfoSchema, 'The deployment.'), ...v1Problems() },
  }),
  getSystemQueues: authed('ops', {
    method: 'get',
    path: '/v1/system/queues',
    operationId: 'getSystemQueues',
    summary: 'Every queue with its counts (as GET /v1/queues).',
    tags: ['queues'],
    responses: { 200: answer(QueueListSchema, 'The queues.'), ...v1Problems() },
  }),
  listQueues: authed('ops', {
    method: 'get',
    path: '/v1/queues',
    operationId: 'listQueues',
    summary: 'Every queue: length, pending, delayed, dead, consumers, paused, oldest age.',
    tags: ['queues'],
    responses: { 200: answer(QueueListSchema, 'The queues.'), ...v1Problems() },
  }),
  pauseQueue: authed('ops', {
    method: 'post',
    path: '/v1/queues/{name}/pause',
    operationId: 'pauseQueue',
    summary: 'Pause a queue: it starts nothing until resumed, and loses nothing.',
    tags: ['queues'],
    request: { params: QueueNameParams },
    responses: { 200: answer(QueueStateSchema, 'Paused.'), ...v1Problems(422) },
  }),
  resumeQueue: authed('ops', {
    method: 'post',
    path: '/v1/queues/{name}/resume',
    operationId: 'resumeQueue',
    summary: 'Resume a paused queue.',
    tags: ['queues'],
    request: { params: QueueNameParams },
    responses: { 200: answer(QueueStateSchema, 'Resumed.'), ...v1Problems(422) },
  }),
  deleteQueue: authed('ops', {
    method: 'delete',
    path: '/v1/queues/{name}',
    operationId: 'deleteQueue',
    summary: 'Delete a queue that holds no live task: its Redis keys and its name go.',
    tags: ['queues'],
    request: { params: QueueNameParams },
    responses: { 204: { description: 'Deleted.' }, ...v1Problems(404, 409, 422) },
  }),
  getMe: authed('dev', {
    method: 'get',
    path: '/v1/me',
    operationId: 'getMe',
    summary: 'Who the token belongs to.',
    tags: ['users'],
    responses: { 200: answer(MeSchema, 'The caller.'), ...v1Problems() },
  }),
  listLogs: authed('dev', {
    method: 'get',
    path: '/v1/logs',
    operationId: 'listLogs',
    summary: 'Task events and audit entries, newest first (a dev: its own tasks’ events).',
    tags: ['logs'],
    request: { query: LogsQuery },
    responses: { 200: answer(LogPageSchema, 'One page.'), ...v1Problems(400, 404, 422) },
  }),
  streamLogs: authed('dev', {
    method: 'get',
    path: '/v1/logs/stream',
    operationId: 'streamLogs',
    summary: 'A live tail of task events and audit entries, as server-sent events.',
    description:
      'The filters and the roles of GET /v1/logs: a dev sees the events of its own tasks. Each message is `id: <item id>`, `event: task_event` or `audit`, `data: <the item as GET /v1/logs shows it>`; a comment line comes every 15 s when nothing else does. With `Last-Event-ID`, what came after that item comes first (at most 1,000 items). A reader that falls too far behind is disconnected (reconnect with `Last-Event-ID`); at most 5 streams per user are open at once (429 past that).',
    tags: ['logs'],
    request: { query: LogStreamQuery, headers: LogStreamHeaders },
    responses: {
      200: {
        description: 'An event stream that lasts until either side closes it.',
        content: {
          'text/event-stream': {
            schema: z.string().openapi({
              example:
                'id: 019a5a2e-0f60-7e66-9466-010e182e636f\nevent: task_event\ndata: {"source":"task_event","id":"019a5a2e-0f60-7e66-9466-010e182e636f","kind":"succeeded"}\n\n',
            }),
          },
        },
      },
      ...v1Problems(400, 404, 422),
    },
  }),
  createUser: authed('admin', {
    method: 'post',
    path: '/v1/users',
    operationId: 'createUser',
    summary: 'Create a user; its token is shown in this answer only.',
    tags: ['users'],
    request: { body: json(NewUserSchema) },
    responses: {
      201: answer(CreatedUserSchema, 'Created.'),
      ...v1Problems(400, 409, 413, 415, 422),
    },
  }),
  listUsers: authed('admin', {
    method: 'get',
    path: '/v1/users',
    operationId: 'listUsers',
    summary: 'Active users (never a token or its hash).',
    tags: ['users'],
    responses: {
      200: answer(z.object({ items: z.array(UserSchema) }).openapi('UserList'), 'The users.'),
      ...v1Problems(),
    },
  }),
  rotateUserToken: authed('admin', {
    method: 'post',
    path: '/v1/users/{id}/token',
    operationId: 'rotateUserToken',
    summary: "Rotate a user's token: the old one is refused from the next request on.",
    tags: ['users'],
    request: { params: IdParams },
    responses: { 200: answer(TokenSchema, 'The new token, shown only here.'), ...v1Problems(404) },
  }),
  deleteUser: authed('admin', {
    method: 'delete',
    path: '/v1/users/{id}',
    operationId: 'deleteUser',
    summary: 'Delete a user: its token stops working at once; its tasks remain.',
    tags: ['users'],
    request: { params: IdParams },
    responses: { 204: { description: 'Deleted.' }, ...v1Problems(404, 409) },
  }),
  listDeadTasks: authed('ops', {
    method: 'get',
    path: '/v1/dlq',
    operationId: 'listDeadTasks',
    summary: 'Dead tasks with their payload and last error, newest first.',
    tags: ['dlq'],
    request: { query: DlqQuery },
    responses: { 200: answer(TaskPageSchema, 'One page.'), ...v1Problems(400, 422) },
  }),
  replayDeadTasks: authed('ops', {
    method: 'post',
    path: '/v1/dlq/replay',
    operationId: 'replayDeadTasks',
    summary: 'Replay dead tasks by ids, type or queue (at most 10,000 a call).',
    tags: ['dlq'],
    request: { body: json(BulkReplaySchema) },
    responses: { 202: answer(ReplayedSchema, 'How many were replayed.'), ...v1Problems(400, 413, 415, 422) },
  }),
  replayDeadTask: authed('ops', {
    method: 'post',
    path: '/v1/dlq/{id}/replay',
    operationId: 'replayDeadTask',
    summary: 'Replay one dead task: back to queued, attempts reset.',
    tags: ['dlq'],
    request: { params: IdParams },
    responses: { 202: answer(TaskSchema, 'Queued again.'), ...v1Problems(404) },
  }),
  deleteDeadTask: authed('ops', {
    method: 'delete',
    path: '/v1/dlq/{id}',
    operationId: 'deleteDeadTask',
    summary: 'Discard a dead task for good.',
    tags: ['dlq'],
    request: { params: IdParams },
    responses: { 204: { description: 'Discarded.' }, ...v1Problems(404) },
  }),
  receiveAlerts: authed('ops', {
    method: 'post',
    path: '/v1/integrations/alertmanager',
    operationId: 'receiveAlerts',
    summary: 'Alertmanager webhook receiver: each notification becomes one feishu.notify task.',
    tags: ['integrations'],
    request: { headers: z.object({ traceparent: TRACEPARENT }), body: json(AlertmanagerNotificationSchema) },
    responses: {
      202: answer(AlertTaskSchema, 'The task that delivers it.'),
      ...v1Problems(400, 413, 415, 422),
    },
  }),
  createSchedule: authed('dev', {
    method: 'post',
    path: '/v1/schedules',
    operationId: 'createSchedule',
    summary: 'Create a recurring schedule; it fires its task as you would submit it.',
    tags: ['schedules'],
    request: { body: json(NewScheduleSchema) },
    responses: {
      201: answer(ScheduleSchema, 'Created.'),
      ...v1Problems(400, 409, 413, 415, 422),
    },
  }),
  listSchedules: authed('dev', {
    method: 'get',
    path: '/v1/schedules',
    operationId: 'listSchedules',
    summary: 'List schedules, newest first (a dev sees its own).',
    tags: ['schedules'],
    request: { query: ScheduleListQuery },
    responses: { 200: answer(SchedulePageSchema, 'One page.'), ...v1Problems(400, 422) },
  }),
  getSchedule: authed('dev', {
    method: 'get',
    path: '/v1/schedules/{id}',
    operationId: 'getSchedule',
    summary: 'Read a schedule.',
    tags: ['schedules'],
    request: { params: IdParams },
    responses: { 200: answer(ScheduleSchema, 'The schedule.'), ...v1Problems(404) },
  }),
  updateSchedule: authed('dev', {
    method: 'patch',
    path: '/v1/schedules/{id}',
    operationId: 'updateSchedule',
    summary: 'Change a schedule; it takes effect from the next due time.',
    tags: ['schedules'],
    request: { params: IdParams, body: json(SchedulePatchSchema) },
    responses: {
      200: answer(ScheduleSchema, 'Changed.'),
      ...v1Problems(400, 404, 409, 413, 415, 422),
    },
  }),
  pauseSchedule: authed('dev', {
    method: 'post',
    path: '/v1/schedules/{id}/pause',
    operationId: 'pauseSchedule',
    summary: 'Pause a schedule: nothing fires until it is resumed.',
    tags: ['schedules'],
    request: { params: IdParams },
    responses: { 200: answer(ScheduleSchema, 'Paused.'), ...v1Problems(404) },
  }),
  resumeSchedule: authed('dev', {
    method: 'post',
    path: '/v1/schedules/{id}/resume',
    operationId: 'resumeSchedule',
    summary: 'Resume a paused schedule from its next due time (what it missed meanwhile does not fire).',
    tags: ['schedules'],
    request: { params: IdParams },
    responses: { 200: answer(ScheduleSchema, 'Resumed.'), ...v1Problems(404) },
  }),
  triggerSchedule: authed('dev', {
    method: 'post',
    path: '/v1/schedules/{id}/trigger',
    operationId: 'triggerSchedule',
    summary: 'Fire a schedule now (paused or not): its task, as its owner would submit it.',
    tags: ['schedules'],
    request: { params: IdParams },
    responses: {
      202: answer(TaskSchema, 'The task it fired.'),
      ...v1Problems(404, 409, 422),
    },
  }),
  deleteSchedule: authed('dev', {
    method: 'delete',
    path: '/v1/schedules/{id}',
    operationId: 'deleteSchedule',
    summary: 'Delete a schedule; the tasks it fired stay, and keep its id.',
    tags: ['schedules'],
    request: { params: IdParams },
    responses: { 204: { description: 'Deleted.' }, ...v1Problems(404) },
  }),
} satisfies Record<string, ApiRoute<unknown>>;

export type RouteName = keyof typeof routes;
