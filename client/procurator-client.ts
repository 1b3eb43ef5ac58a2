import { verifyCallback } from '../lib/signing/verify-callback';
import type { VerifiedCallback } from '../lib/signing/verify-callback';
import type { components, operations } from './openapi-types';
import { ProcuratorError, ProcuratorTimeoutError } from './procurator-error';
import type { Problem } from './procurator-error';
import { SseParser } from './sse-parser';

type Schemas = components['schemas'];
export type Task = Schemas['Task'];
export type TaskEvent = Schemas['TaskEvent'];
export type TaskPage = Schemas['TaskPage'];
export type Submission = Schemas['Submission'];
export type BulkReplay = Schemas['BulkReplay'];
export type Schedule = Schemas['Schedule'];
export type SchedulePage = Schemas['SchedulePage'];
type Defaulted = 'timezone' | 'missedRuns' | 'overlap' | 'paused';
/**
 * A new schedule; `timezone`, `missedRuns`, `overlap` and `paused` have defaults (the
 * generated type, made from the document's defaults, calls them present).
 */
export type NewSchedule = Omit<Schemas['NewSchedule'], Defaulted> &
  Partial<Pick<Schemas['NewSchedule'], Defaulted>>;
export type SchedulePatch = Schemas['SchedulePatch'];
export type ScheduleFilter = NonNullable<operations['listSchedules']['parameters']['query']>;
export type TaskFilter = NonNullable<operations['listTasks']['parameters']['query']>;
export type DeadTaskFilter = NonNullable<operations['listDeadTasks']['parameters']['query']>;
export type LogItem = Schemas['LogItem'];
export type LogTailFilter = NonNullable<operations['streamLogs']['parameters']['query']>;

export interface TailOptions {
  /** Ends the iteration (and closes the stream) when aborted. */
  signal?: AbortSignal;
  /** Start after this item (the `id` of the last one seen): what came since comes first. */
  lastEventId?: string;
  /** The wait before reconnecting (default 1 s), doubled after each failure in a row, up to 30 s. */
  reconnectMs?: number;
}

export interface ProcuratorClientOptions {
  /** Where the API answers, e.g. `https://procurator.internal`. */
  baseUrl: string;
  /** An API token (`prc_…`). */
  token: string;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** How many times a 429 or 503 answer is tried again after its Retry-After (default 3). */
  retries?: number;
  /** The longest Retry-After waited for; a longer one is an error at once (default 30 s). */
  maxRetryAfterMs?: number;
}

const ENDED = new Set(['succeeded', 'dead', 'cancelled', 'discarded']);
/** waitFor never asks more often than this: a task's end is seldom worth more than 10 looks a second. */
export const MIN_POLL_MS = 100;

/** A page that is also an async iterator over every item of every page after it. */
export interface Listing<Page extends { items: Item[] }, Item>
  extends PromiseLike<Page>, AsyncIterable<Item> {}

/** A page of tasks that is also an async iterator over every task of every page after it. */
export type TaskListing = Listing<TaskPage, Task>;

/**
 * A typed client of the Procurator API, typed from its OpenAPI document (client/openapi-types.ts
 * is generated from it). Refusals throw ProcuratorError; 429 and 503 are tried again after
 * their Retry-After, and a submission keeps its Idempotency-Key across tries, so a retried
 * submission never makes a second task.
 */
export class ProcuratorClient {
  private readonly base: string;
  private readonly send: (input: string, init: RequestInit) => Promise<Response>;

  constructor(private readonly o: ProcuratorClientOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '');
    this.send = o.fetch ?? ((input, init) => fetch(input, init));
  }

  /**
   * Submits one task; answers it as stored (status `queued` or `scheduled`). `traceparent`
   * (W3C Trace Context) puts the task in the caller's trace.
   */
  async submit(
    task: Submission,
    opts: { idempotencyKey?: string; traceparent?: string } = {},
  ): Promise<Task> {
    const key = opts.idempotencyKey ?? crypto.randomUUID();
    const headers: Record<string, string> = { 'Idempotency-Key': key };
    if (opts.traceparent !== undefined) headers.traceparent = opts.traceparent;
    return this.call<Task>('POST', '/v1/tasks', { body: task, headers });
  }

  /** Submits 1 to 1000 tasks, all or none; with `traceparent`, all in the caller's trace. */
  async submitBatch(tasks: Submission[], opts: { traceparent?: string } = {}): Promise<Task[]> {
    const headers: Record<string, string> =
      opts.traceparent !== undefined ? { traceparent: opts.traceparent } : {};
    return (await this.call<{ tasks: Task[] }>('POST', '/v1/tasks/batch', { body: { tasks }, headers }))
      .tasks;
  }

  get(id: string): Promise<Task> {
    return this.call<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`);
  }

  /** `await list(filter)`: one page; `for await (const task of list(filter))`: every task. */
  list(filter: TaskFilter = {}): TaskListing {
    return this.listing('/v1/tasks', filter);
  }

  async events(id: string): Promise<TaskEvent[]> {
    return (await this.call<{ items: TaskEvent[] }>('GET', `/v1/tasks/${encodeURIComponent(id)}/events`))
      .items;
  }

  /** Cancels a task: it ends `cancelled`, or (running) is being stopped. 409 once it has ended. */
  cancel(id: string): Promise<Task> {
    return this.call<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`);
  }

  /**
   * Resolves with the task once it has ended (succeeded, dead, cancelled, discarded); rejects
   * with ProcuratorTimeoutError once `timeoutMs` (default 60 s) has passed. Asks at most every
   * `intervalMs` (at least 100 ms), waiting longer between looks as time goes by.
   */
  async waitFor(id: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Task> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let interval = Math.max(MIN_POLL_MS, opts.intervalMs ?? MIN_POLL_MS);
    for (;;) {
      const task = await this.get(id);
      if (ENDED.has(task.status)) return task;
      const left = deadline - Date.now();
      if (left <= 0) throw new ProcuratorTimeoutError(id, task.status, timeoutMs);
      await sleep(Math.min(interval, left));
      if (Date.now() >= deadline) {
        const last = await this.get(id);
        if (ENDED.has(last.status)) return last;
        throw new ProcuratorTimeoutError(id, last.status, timeoutMs);
      }
      interval = Math.min(interval * 1.5, 2000);
    }
  }

  /**
   * The live tail (GET /v1/logs/stream): every task event and audit entry the filter and the
   * caller's role let it see, as they are recorded, for as long as it is iterated. When the
   * stream ends or the connection fails, it reconnects with Last-Event-ID, so that nothing is
   * missed or seen twice (beyond 1,000 items missed, the newest 1,000). Breaking out of the
   * loop or aborting `signal` closes the stream. A refusal throws ProcuratorError: at once for
   * 401, 403, 404 and 422, after `retries` tries (each after its Retry-After) for 429 and 503.
   */
  async *tail(filter: LogTailFilter = {}, opts: TailOptions = {}): AsyncGenerator<LogItem, void, undefined> {
    const { signal } = opts;
    const base = opts.reconnectMs ?? 1000;
    let lastEventId = opts.lastEventId;
    let failures = 0;
    let refusals = 0;
    while (!signal?.aborted) {
      const connection = new AbortController();
      const abort = () => connection.abort();
      signal?.addEventListener('abort', abort, { once: true });
      try {
        const headers: Record<string, string> = { 'X-API-Token': this.o.token, Accept: 'text/event-stream' };
        if (lastEventId) headers['Last-Event-ID'] = lastEventId;
        let res: Response;
        try {
          res = await this.send(`${this.base}/v1/logs/stream${query(filter)}`, {
            method: 'GET',
            headers,
            signal: connection.signal,
          });
        } catch {
          if (signal?.aborted) return;
          failures++;
          await sleep(reconnectDelay(base, failures), signal);
          continue;
        }
        if (!res.ok) {
          const problem = await problemOf(res);
          const retryable = res.status === 429 || res.status === 503;
          const wait = retryAfterMs(res.headers.get('retry-after'));
          if (!retryable || refusals >= (this.o.retries ?? 3) || wait > (this.o.maxRetryAfterMs ?? 30_000)) {
            throw new ProcuratorError(res.status, problem);
          }
          refusals++;
          await sleep(wait, signal);
          continue;
        }
        refusals = 0;
        failures = 0;
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            for (const m of parser.push(value)) {
              if (m.kind !== 'event') continue;
              if (m.id) lastEventId = m.id;
              yield JSON.parse(m.data) as LogItem;
            }
          }
        } catch {
          // The connection failed mid-stream: reconnect from the last item.
          failures++;
        } finally {
          await reader.cancel().catch(() => undefined);
        }
      } finally {
        signal?.removeEventListener('abort', abort);
        connection.abort();
      }
      await sleep(reconnectDelay(base, failures), signal);
    }
  }

  /** The dead-letter queue (ops). */
  readonly dlq = {
    list: (filter: DeadTaskFilter = {}): TaskListing => this.listing('/v1/dlq', filter),
    /** Replays one dead task (by id), or those a filter names; answers how many. */
    replay: async (which: string | BulkReplay): Promise<number> => {
      if (typeof which === 'string') {
        await this.call<Task>('POST', `/v1/dlq/${encodeURIComponent(which)}/replay`);
        return 1;
      }
      return (await this.call<{ replayed: number }>('POST', '/v1/dlq/replay', { body: which })).replayed;
    },
    delete: async (id: string): Promise<void> => {
      await this.call<null>('DELETE', `/v1/dlq/${encodeURIComponent(id)}`);
    },
  };

  /** Recurring schedules (README "Schedules"): a dev's own, or (ops) everyone's. */
  readonly schedules = {
    create: (schedule: NewSchedule): Promise<Schedule> =>
      this.call<Schedule>('POST', '/v1/schedules', { body: schedule }),
    list: (filter: ScheduleFilter = {}): Listing<SchedulePage, Schedule> =>
      this.listing<SchedulePage>('/v1/schedules', filter),
    get: (id: string): Promise<Schedule> =>
      this.call<Schedule>('GET', `/v1/schedules/${encodeURIComponent(id)}`),
    /** Changes take effect from the next due time. */
    update: (id: string, patch: SchedulePatch): Promise<Schedule> =>
      this.call<Schedule>('PATCH', `/v1/schedules/${encodeURIComponent(id)}`, { body: patch }),
    pause: (id: string): Promise<Schedule> =>
      this.call<Schedule>('POST', `/v1/schedules/${encodeURIComponent(id)}/pause`),
    resume: (id: string): Promise<Schedule> =>
      this.call<Schedule>('POST', `/v1/schedules/${encodeURIComponent(id)}/resume`),
    /** Fires the schedule now; answers the task it fired. */
    trigger: (id: string): Promise<Task> =>
      this.call<Task>('POST', `/v1/schedules/${encodeURIComponent(id)}/trigger`),
    delete: async (id: string): Promise<void> => {
      await this.call<null>('DELETE', `/v1/schedules/${encodeURIComponent(id)}`);
    },
  };

  /**
   * Verifies a callback request this receiver got (the signature, the body's digest, the
   * URL it was meant for), against this deployment's JWKS unless another URL is given.
   */
  verifyCallback(
    request: Request,
    jwksUrl = `${this.base}/.well-known/jwks.json`,
  ): Promise<VerifiedCallback> {
    return verifyCallback(request, jwksUrl);
  }

  private listing<Page extends { items: unknown[]; nextCursor: string | null } = TaskPage>(
    path: string,
    filter: Record<string, string | number | undefined>,
  ): Listing<Page, Page['items'][number]> {
    const page = (cursor?: string) => this.call<Page>('GET', `${path}${query({ ...filter, cursor })}`);
    // Asked for when first awaited or iterated, not before: a listing nobody reads costs nothing.
    let first: Promise<Page> | undefined;
    const firstPage = () => (first ??= page(typeof filter.cursor === 'string' ? filter.cursor : undefined));
    return {
      then: (onFulfilled, onRejected) => firstPage().then(onFulfilled, onRejected),
      async *[Symbol.asyncIterator]() {
        let current = await firstPage();
        for (;;) {
          yield* current.items as Page['items'][number][];
          if (!current.nextCursor) return;
          current = await page(current.nextCursor);
        }
      },
    };
  }

  private async call<T>(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { 'X-API-Token': this.o.token, ...opts.headers };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const retries = this.o.retries ?? 3;
    for (let tried = 0; ; tried++) {
      const res = await this.send(`${this.base}${path}`, { method, headers, body });
      if (res.ok) return (res.status === 204 ? null : await res.json()) as T;
      const problem = await problemOf(res);
      const wait = retryAfterMs(res.headers.get('retry-after'));
      const retryable = res.status === 429 || res.status === 503;
      if (!retryable || tried >= retries || wait > (this.o.maxRetryAfterMs ?? 30_000)) {
        throw new ProcuratorError(res.status, problem);
      }
      await sleep(wait);
    }
  }
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text();
  try {
    return JSON.parse(text) as Problem;
  } catch {
    return {
      type: 'about:blank',
      title: res.statusText || 'Error',
      status: res.status,
      detail: text.slice(0, 500),
    };
  }
}

/** Retry-After in seconds (what Procurator sends) as ms; 1 s when absent or unreadable. */
function retryAfterMs(header: string | null): number {
  const s = Number(header);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 1000;
}

function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The wait before a tail reconnects: `base`, doubled after each failure in a row, up to 30 s. */
function reconnectDelay(base: number, failures: number): number {
  return Math.min(30_000, base * 2 ** Math.max(0, failures - 1));
}
