import { afterEach, describe, expect, it } from 'vitest';
import type { FeishuMessage, FeishuSender } from '../../lib/feishu/feishu-client';
import { silentLogger } from '../../lib/logger';
import { EventBus } from '../../lib/observability/event-bus';
import type { TaskEventMap, TaskEvents } from '../../lib/observability/task-events';
import type { TaskRecord, TaskStatus } from '../../lib/tasks/task';
import { DeadLetterAlerter } from '../../worker/dead-letter-alerter';

/** Records what would have gone to Feishu; `fail` makes the next sends throw. */
class FakeSender implements FeishuSender {
  sent: string[] = [];
  fail: 'no' | 'reject' | 'throw' | 'hang' = 'no';
  send(message: FeishuMessage): Promise<unknown> {
    if (this.fail === 'throw') throw new Error('feishu exploded synchronously');
    if (this.fail === 'reject') return Promise.reject(new Error('feishu is down'));
    if (this.fail === 'hang') return new Promise(() => undefined);
    this.sent.push('text' in message ? message.text : JSON.stringify(message.card));
    return Promise.resolve({ code: 0, msg: 'success' });
  }
}

let seq = 0;
function task(type: string, queue: string, status: TaskStatus = 'dead', message = 'boom'): TaskRecord {
  const now = new Date();
  seq++;
  return {
    id: `0190000${String(seq).padStart(5, '0')}`,
    type,
    queue,
    priority: 'normal',
    concurrencyKey: null,
    status,
    payload: {},
    result: null,
    lastError: status === 'dead' ? { message, code: 'x', retryable: false } : null,
    attempts: 1,
    maxAttempts: 5,
    timeoutMs: 60_000,
    runAt: null,
    callbackUrl: null,
    metadata: {},
    createdBy: 'u',
    idempotencyKey: null,
    requestHash: null,
    enqueueSeq: seq,
    leaseEpoch: 1,
    leaseOwner: null,
    leaseExpiresAt: null,
    cancelRequestedAt: null,
    replays: 0,
    createdAt: now,
    startedAt: now,
    finishedAt: now,
    updatedAt: now,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    parentSpanId: null,
    traceFlags: 1,
    scheduleId: null,
    dependsOn: [],
    hasChildren: false,
  };
}

let alerter: DeadLetterAlerter | undefined;
afterEach(async () => {
  await alerter?.stop();
  alerter = undefined;
});

async function setup(opts: { maxBuffered?: number; sendTimeoutMs?: number } = {}) {
  const events: TaskEvents = new EventBus<TaskEventMap>(silentLogger());
  const sender = new FakeSender();
  // An hour-long interval: the tests drive tick() themselves. start() subscribes and ticks at
  // once; letting that first tick pass on an empty buffer keeps it out of the test's way.
  alerter = new DeadLetterAlerter({ events, sender, logger: silentLogger(), intervalMs: 3600_000, ...opts });
  alerter.start();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const die = (t: TaskRecord) => events.emit('finished', { task: t });
  return { events, sender, alerter, die };
}

describe('DeadLetterAlerter', () => {
  it('sends one message for 25 dead tasks of two types, with counts and the replay hint', async () => {
    const { sender, alerter, die } = await setup();
    for (let i = 0; i < 15; i++)
      die(task('http', 'default', 'dead', `HTTP 404 from upstream ${'x'.repeat(500)}`));
    for (let i = 0; i < 10; i++) die(task('pg.backup', 'backups'));
    await expect(alerter.tick()).resolves.toBe(25);
    expect(sender.sent).toHaveLength(1);
    const text = sender.sent[0]!;
    expect(text).toContain('25 tasks dead-lettered');
    expect(text).toContain('http on queue default: 15');
    expect(text).toContain('pg.backup on queue backups: 10');
    expect(text).toContain('POST /v1/dlq/replay with {"type":"http","queue":"default"}');
    expect(text).toContain('POST /v1/dlq/<id>/replay');
    expect(text).toContain('HTTP 404 from upstream');
    expect(text).not.toContain('x'.repeat(200)); // error messages are truncated
    expect(text.match(/^- 0190/gm)).toHaveLength(5); // a few samples, not all 25
    await expect(alerter.tick()).resolves.toBe(0);
    expect(sender.sent).toHaveLength(1);
  });

  it('ignores tasks that did not die', async () => {
    const { sender, alerter, die } = await setup();
    for (const status of ['succeeded', 'cancelled', 'discarded'] as const)
      die(task('http', 'default', status));
    await alerter.tick();
    expect(alerter.buffered).toBe(0);
    expect(sender.sent).toHaveLength(0);
  });

  it('sends nothing when idle', async () => {
    const { sender, alerter } = await setup();
    await alerter.tick();
    await alerter.tick();
    expect(sender.sent).toHaveLength(0);
  });

  it('never throws out of tick(), retries a failed batch once, then drops it', async () => {
    const { sender, alerter, die } = await setup();
    die(task('http', 'default'));
    sender.fail = 'throw';
    await expect(alerter.tick()).resolves.toBe(0);
    sender.fail = 'reject';
    die(task('pg.backup', 'backups'));
    await expect(alerter.tick()).resolves.toBe(0); // second try of the first batch: dropped now
    sender.fail = 'no';
    await expect(alerter.tick()).resolves.toBe(1); // the pg.backup task, on its second try
    expect(sender.sent).toHaveLength(1);
    expect(sender.sent[0]).toContain('pg.backup on queue backups: 1');
    expect(sender.sent[0]).not.toContain('http on queue');
  });

  it('gives up on a send that hangs at its deadline', async () => {
    const { sender, alerter, die } = await setup({ sendTimeoutMs: 50 });
    sender.fail = 'hang';
    die(task('http', 'default'));
    await expect(alerter.tick()).resolves.toBe(0);
  });

  it('bounds its buffer and counts what it dropped', async () => {
    const { sender, alerter, die } = await setup({ maxBuffered: 10 });
    for (let i = 0; i < 30; i++) die(task('http', 'default'));
    expect(alerter.buffered).toBe(10);
    expect(alerter.droppedTotal).toBe(20);
    await expect(alerter.tick()).resolves.toBe(30);
    expect(sender.sent[0]).toContain('30 tasks dead-lettered');
    expect(sender.sent[0]).toContain('20 more not itemised');
  });

  it('flushes once on stop() and stops listening', async () => {
    const { sender, alerter, die } = await setup();
    die(task('http', 'default'));
    await alerter.stop();
    expect(sender.sent).toHaveLength(1);
    die(task('http', 'default'));
    expect(alerter.buffered).toBe(0);
    await alerter.stop();
    expect(sender.sent).toHaveLength(1);
  });
});
