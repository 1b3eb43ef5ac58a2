import type { FeishuMessage, FeishuSender } from '../lib/feishu/feishu-client';
import type { Logger } from '../lib/logger';
import { cutText } from '../lib/text';
import type { TaskEvents } from '../lib/observability/task-events';
import type { TaskSummary } from '../lib/tasks/task';
import { PeriodicComponent } from './periodic';

export interface DeadLetterAlerterDeps {
  events: TaskEvents;
  sender: FeishuSender;
  logger: Logger;
  /** How often a batch may be sent. Default 15 s: one message per window, whatever the volume. */
  intervalMs?: number;
  /** Dead tasks kept for the next alert; beyond that they are only counted. Default 1000. */
  maxBuffered?: number;
  /** Deadline of one send, the flush in stop() included. Default 5 s. */
  sendTimeoutMs?: number;
}

/** What an alert keeps of a dead task: small and truncated, so the buffer's memory is bounded. */
export interface DeadTaskNote {
  id: string;
  type: string;
  queue: string;
  error: string;
}

export interface DeadLetterBatch {
  tasks: DeadTaskNote[];
  /** Tasks that died while the buffer was full: counted in the total, not itemised. */
  dropped: number;
}

const ERROR_CHARS = 160;
const NAME_CHARS = 80;
const SAMPLES = 5;
const GROUP_LINES = 10;

/**
 * Sends one Feishu message per interval summarising the tasks dead-lettered by this worker.
 * The `finished` listener only appends to a bounded buffer, so the worker's loop never waits
 * on Feishu. A batch whose send fails is retried once, merged into the next tick's message;
 * if that fails too it is dropped (and logged), so an unreachable Feishu cannot grow memory
 * or delay alerts about newer deaths indefinitely.
 */
export class DeadLetterAlerter extends PeriodicComponent {
  private buffer: DeadTaskNote[] = [];
  private dropped = 0;
  private retry?: DeadLetterBatch;
  private sending?: Promise<number>;
  private unsubscribe?: () => void;
  private stopping?: Promise<void>;
  private readonly maxBuffered: number;
  private readonly sendTimeoutMs: number;
  /** Dead tasks not itemised because the buffer was full, since construction. */
  droppedTotal = 0;

  constructor(private readonly d: DeadLetterAlerterDeps) {
    super('dead-letter-alerter', d.intervalMs ?? 15_000, d.logger);
    this.maxBuffered = d.maxBuffered ?? 1000;
    this.sendTimeoutMs = d.sendTimeoutMs ?? 5000;
  }

  /** Dead tasks waiting for the next alert (not counting a batch held for its retry). */
  get buffered(): number {
    return this.buffer.length;
  }

  override start(): void {
    this.stopping = undefined;
    this.unsubscribe ??= this.d.events.on('finished', ({ task }) => this.record(task));
    super.start();
  }

  /** Stops listening and flushes once; bounded by sendTimeoutMs (twice, if a tick was sending). */
  override stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** Sends what has accumulated, if anything. Never throws; returns the tasks reported. */
  async tick(): Promise<number> {
    // One message at a time: what arrives meanwhile waits for the next tick.
    if (this.sending) return 0;
    this.sending = this.flush().finally(() => (this.sending = undefined));
    return this.sending;
  }

  private async shutdown(): Promise<void> {
    await super.stop();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.sending;
    await this.tick();
  }

  private record(task: TaskSummary): void {
    if (task.status !== 'dead') return;
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      this.droppedTotal++;
      return;
    }
    this.buffer.push({
      id: task.id,
      type: truncate(task.type, NAME_CHARS),
      queue: truncate(task.queue, NAME_CHARS),
      error: truncate(task.lastError?.message ?? 'no error recorded', ERROR_CHARS),
    });
  }

  private async flush(): Promise<number> {
    const fresh: DeadLetterBatch = { tasks: this.buffer, dropped: this.dropped };
    this.buffer = [];
    this.dropped = 0;
    const retry = this.retry;
    this.retry = undefined;
    const batch = retry
      ? { tasks: [...retry.tasks, ...fresh.tasks], dropped: retry.dropped + fresh.dropped }
      : fresh;
    const count = batch.tasks.length + batch.dropped;
    if (count === 0) return 0;
    try {
      const message = formatDeadLetterAlert(batch);
      await withDeadline((signal) => this.d.sender.send(message, signal), this.sendTimeoutMs);
      this.d.logger.info({ count }, 'dead-letter alert sent');
      return count;
    } catch (err) {
      if (retry) {
        const lost = retry.tasks.length + retry.dropped;
        this.d.logger.warn({ err, lost }, 'dead-letter alert failed twice; its older tasks are not alerted');
      } else {
        this.d.logger.warn({ err, count }, 'dead-letter alert failed; retrying once on the next tick');
      }
      if (fresh.tasks.length + fresh.dropped > 0) this.retry = fresh;
      return 0;
    }
  }
}

/** The alert text: totals, counts by type and queue, a few samples and how to replay. */
export function formatDeadLetterAlert(batch: DeadLetterBatch): FeishuMessage {
  const total = batch.tasks.length + batch.dropped;
  const groups = new Map<string, { type: string; queue: string; count: number; first: DeadTaskNote }>();
  for (const t of batch.tasks) {
    const key = `${t.type}\u0000${t.queue}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { type: t.type, queue: t.queue, count: 1, first: t });
  }
  const sorted = [...groups.values()].sort((a, b) => b.count - a.count || a.type.localeCompare(b.type));

  const lines = [`Procurator: ${total} task${total === 1 ? '' : 's'} dead-lettered since the last alert.`];
  if (sorted.length > 0) {
    lines.push('', 'By type and queue:');
    for (const g of sorted.slice(0, GROUP_LINES)) lines.push(`- ${g.type} on queue ${g.queue}: ${g.count}`);
    if (sorted.length > GROUP_LINES) lines.push(`- and ${sorted.length - GROUP_LINES} more type/queue pairs`);
  }
  if (batch.dropped > 0) {
    lines.push(`- ${batch.dropped} more not itemised (the alert buffer was full)`);
  }

  // One sample per group first, so a storm of one type does not hide the others.
  const samples = sorted.slice(0, SAMPLES).map((g) => g.first);
  for (const t of batch.tasks) {
    if (samples.length >= SAMPLES) break;
    if (!samples.includes(t)) samples.push(t);
  }
  if (samples.length > 0) {
    lines.push('', 'Samples:');
    for (const t of samples) lines.push(`- ${t.id} (${t.type}, ${t.queue}): ${t.error}`);
  }

  const top = sorted[0];
  const example = JSON.stringify(
    top ? { type: top.type, queue: top.queue } : { type: '<type>', queue: '<queue>' },
  );
  lines.push(
    '',
    'To replay (role ops):',
    `- a type and queue: POST /v1/dlq/replay with ${example}`,
    '- one task: POST /v1/dlq/<id>/replay',
    '- list them: GET /v1/dlq?type=<type>&queue=<queue>',
  );
  return { text: lines.join('\n') };
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${cutText(s, max - 1)}…`;
}

/** Runs `fn` with a signal that fires at the deadline, and stops waiting then even if it ignores it. */
async function withDeadline<T>(fn: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`dead-letter alert timed out after ${ms} ms`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([fn(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
