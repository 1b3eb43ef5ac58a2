import type { ClaimedDelivery, TryRecord } from '../lib/callbacks/delivery-store';
import { CallbackDeliveryStore } from '../lib/callbacks/delivery-store';
import type { Database } from '../lib/db/client';
import { PermanentTaskError, describeTaskError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import type { OutboundClient, OutboundResponse } from '../lib/outbound/outbound-client';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  signCallback,
} from '../lib/signing/callback-signature';
import type { SigningKeyStore } from '../lib/signing/key-store';
import { standardWebhookHeaders } from '../lib/signing/standard-webhooks';
import type { SigningKey } from '../lib/signing/keys';
import { VERSION } from '../lib/version';
import { retryAfterMs } from './executors/http';
import { backoffDelay } from '../lib/backoff';
import { cutText } from '../lib/text';
import { spanParentOf } from '../lib/tasks/task-trace';
import { noTracing } from '../lib/tracing/tracing';
import type { TraceSpan, Tracing } from '../lib/tracing/tracing';
import { PeriodicComponent } from './periodic';

/** Limits of delivery; the defaults are documented in the README ("Callbacks"). */
export interface CallbackDelivererOptions {
  /** How often due deliveries are looked for (default 1 s). */
  intervalMs?: number;
  /** Requests in flight at most, per worker (default 8). */
  concurrency?: number;
  /** Tries per delivery, the first included (default 10). */
  maxTries?: number;
  /** Wait after the first failed try; doubles with each further one (default 5 min). */
  baseDelayMs?: number;
  /** The longest wait between two tries (default 8 h). */
  maxDelayMs?: number;
  /** Deadline of one request (default 10 s). */
  timeoutMs?: number;
  random?: () => number;
}

export interface CallbackDelivererDeps extends CallbackDelivererOptions {
  database: Database;
  /** The worker's client: callbacks obey the same SSRF policy as `http` tasks. */
  outbound: OutboundClient;
  keys: Pick<SigningKeyStore, 'current'>;
  logger: Logger;
  /** Where each try's outcome is announced (procurator_callbacks_total). */
  events?: TaskEvents;
  workerId: string;
  /** Each try is a span of the task's trace (default: ids only, nothing exported). */
  tracing?: Tracing;
}

/** Enough of an answer to say why a try failed. */
const RESPONSE_BYTES = 1024;
const ERROR_CHARS = 200;

/**
 * The wait before try `tries + 1`: base·2^(tries-1), capped, with "equal jitter" (between
 * half and all of it), so retries of many deliveries spread out while the schedule stays
 * predictable. With the defaults the ten tries span about 13 to 27 hours.
 */
export function callbackRetryDelay(
  tries: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return backoffDelay(tries, { baseMs, maxMs, jitter: 'equal' }, random);
}

type TryOutcome =
  | { ok: true; status: number }
  | { ok: false; status?: number; message: string; permanent: boolean; retryAfterMs?: number };

/**
 * Decides a response: 2xx delivered; 410 Gone is the receiver saying the endpoint is gone for
 * good; anything else — 408, 429, 5xx, and also other 4xx and 3xx (a receiver mid-deploy, or
 * one whose key cache lags a rotation, may answer 401/404 for a while) — is tried again.
 */
function judge(res: OutboundResponse): TryOutcome {
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
  const text = cutText(res.body, ERROR_CHARS);
  const message = `receiver answered HTTP ${res.status}${text ? `: ${text}` : ''}`;
  if (res.status === 410) return { ok: false, status: res.status, message, permanent: true };
  const after =
    res.status === 429 || res.status === 503 ? retryAfterMs(res.headers['retry-after']) : undefined;
  return { ok: false, status: res.status, message, permanent: false, retryAfterMs: after };
}

/**
 * Delivers signed completion callbacks from the outbox, with its own retries. It runs beside
 * the consumer and shares nothing with it but the database, so a slow or failing receiver
 * never holds up tasks, and its outcomes never touch a task's status.
 */
export class CallbackDeliverer extends PeriodicComponent {
  private readonly store: CallbackDeliveryStore;
  private readonly concurrency: number;
  private readonly maxTries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly leaseMs: number;
  private abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly d: CallbackDelivererDeps) {
    super('callback-deliverer', d.intervalMs ?? 1000, d.logger);
    this.store = new CallbackDeliveryStore(d.database);
    this.concurrency = d.concurrency ?? 8;
    this.maxTries = d.maxTries ?? 10;
    this.baseDelayMs = d.baseDelayMs ?? 5 * 60_000;
    this.maxDelayMs = d.maxDelayMs ?? 8 * 3_600_000;
    this.timeoutMs = d.timeoutMs ?? 10_000;
    // Longer than one try can take (a request within timeoutMs), with a margin for signing
    // and the database: a live worker never loses a row it is sending.
    this.leaseMs = this.timeoutMs + 60_000;
  }

  override start(): void {
    if (this.abort.signal.aborted) this.abort = new AbortController();
    super.start();
  }

  /**
   * Aborts requests in flight (their deliveries go back untried: a receiver may have got one
   * anyway, which is why they de-duplicate on the delivery id) and waits for them and the tick.
   */
  override async stop(): Promise<void> {
    this.abort.abort(new Error('worker stopping'));
    await super.stop();
    await this.idle();
  }

  /** Resolves when no request is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Keeps up to `concurrency` requests in flight while deliveries are due: claims as many as
   * there are free slots, and as each request ends claims again, so one slow receiver holds
   * one slot, not a batch. Returns (requests possibly still in flight) when nothing more is
   * due; the number returned is how many tries were started.
   */
  async tick(): Promise<number> {
    let started = 0;
    while (!this.abort.signal.aborted) {
      const free = this.concurrency - this.inFlight.size;
      if (free > 0) {
        const batch = await this.store.claimDue(this.d.workerId, free, this.leaseMs);
        if (batch.length > 0) this.launch(batch, await this.signingKey(batch));
        started += batch.length;
        if (batch.length < free) break;
      }
      await Promise.race(this.inFlight);
    }
    return started;
  }

  private async signingKey(batch: ClaimedDelivery[]): Promise<SigningKey> {
    try {
      return await this.d.keys.current();
    } catch (err) {
      // Without a key nothing can be sent: hand the batch back untried.
      await Promise.allSettled(batch.map((b) => this.store.release(b, this.d.workerId)));
      throw err;
    }
  }

  private launch(batch: ClaimedDelivery[], key: SigningKey): void {
    for (const b of batch) {
      const p: Promise<void> = this.deliver(b, key)
        .catch((err: unknown) => {
          // The row stays leased; when the lease runs out a tick tries it again.
          this.d.logger.warn({ err, deliveryId: b.id }, 'callback delivery not recorded');
        })
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  private async deliver(d: ClaimedDelivery, key: SigningKey): Promise<void> {
    const owner = this.d.workerId;
    const base = { deliveryId: d.id, event: d.event, try: d.tries, maxTries: this.maxTries };
    if (d.tries > this.maxTries) {
      // Its last try was claimed by a worker that died; do not go round again.
      const message = `callback failed for good: ${this.maxTries} tries made (the last one's worker was lost)`;
      await this.store.giveUp(d, owner, { message, data: { ...base, final: true } });
      this.d.events?.emit('callback_tried', { outcome: 'given_up' });
      return;
    }
    const tracing = this.d.tracing ?? noTracing;
    // One span per try, a sibling of the task's attempts; the receiver's `traceparent` names it.
    const span = tracing.start(`callback ${d.event}`, spanParentOf(d.trace), {
      kind: 'client',
      attributes: tracing.exporting
        ? {
            'http.request.method': 'POST',
            'procurator.task.id': d.taskId,
            'procurator.delivery.id': d.id,
            'procurator.delivery.try': d.tries,
          }
        : undefined,
    });
    try {
      await this.send(d, key, span, base);
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  private async send(
    d: ClaimedDelivery,
    key: SigningKey,
    span: TraceSpan,
    base: Record<string, unknown>,
  ): Promise<void> {
    const owner = this.d.workerId;
    const body = JSON.stringify({ event: d.event, task: d.task });
    const nowMs = Date.now();
    const token = await signCallback(key, { taskId: d.taskId, deliveryId: d.id, url: d.url, body }, nowMs);
    const webhook = await standardWebhookHeaders(key, {
      id: d.id,
      timestampSeconds: Math.floor(nowMs / 1000),
      body,
    });
    const started = Date.now();
    let outcome: TryOutcome;
    try {
      const res = await this.d.outbound.request({
        url: d.url,
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': `Procurator/${VERSION}`,
          [EVENT_HEADER]: d.event,
          [DELIVERY_HEADER]: d.id,
          [SIGNATURE_HEADER]: token,
          ...webhook,
          traceparent: span.traceparent(),
        },
        body,
        timeoutMs: this.timeoutMs,
        signal: this.abort.signal,
        maxResponseBytes: RESPONSE_BYTES,
      });
      outcome = judge(res);
    } catch (err) {
      if (this.abort.signal.aborted) {
        await this.store.release(d, owner);
        return;
      }
      // Blocked destinations and malformed URLs never get better; network errors may.
      const permanent = err instanceof PermanentTaskError;
      outcome = { ok: false, message: describeTaskError(err).message, permanent };
    }
    const durationMs = Date.now() - started;
    const data = { ...base, status: outcome.ok ? outcome.status : (outcome.status ?? null), durationMs };
    if (outcome.status !== undefined) span.setAttribute('http.response.status_code', outcome.status);
    if (!outcome.ok) span.fail(new Error(outcome.message));
    if (outcome.ok) {
      await this.store.delivered(d, owner, { message: `callback delivered (HTTP ${outcome.status})`, data });
      this.d.events?.emit('callback_tried', { outcome: 'delivered' });
      return;
    }
    this.d.logger.warn(
      { deliveryId: d.id, taskId: d.taskId, try: d.tries, status: outcome.status },
      `callback failed: ${outcome.message}`,
    );
    if (outcome.permanent || d.tries >= this.maxTries) {
      const rec: TryRecord = {
        message: `callback failed for good after ${d.tries} ${d.tries === 1 ? 'try' : 'tries'}: ${outcome.message}`,
        data: { ...data, error: outcome.message, final: true },
      };
      await this.store.giveUp(d, owner, rec);
      this.d.events?.emit('callback_tried', { outcome: 'given_up' });
      return;
    }
    const delayMs =
      outcome.retryAfterMs !== undefined
        ? Math.min(outcome.retryAfterMs, this.maxDelayMs)
        : callbackRetryDelay(d.tries, this.baseDelayMs, this.maxDelayMs, this.d.random);
    const rec: TryRecord = {
      message: `callback failed (try ${d.tries} of ${this.maxTries}), retry in ${Math.round(delayMs / 1000)} s: ${outcome.message}`,
      data: { ...data, error: outcome.message, final: false, retryInMs: delayMs },
    };
    await this.store.retryLater(d, owner, rec, delayMs);
    this.d.events?.emit('callback_tried', { outcome: 'failed' });
  }
}
