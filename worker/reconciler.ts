import type { Logger } from '../lib/logger';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { AttemptStore } from '../lib/tasks/attempt-store';
import { PeriodicComponent } from './periodic';

export interface ReconcilerDeps {
  queue: QueueBackend;
  store: AttemptStore;
  logger: Logger;
  intervalMs: number;
  /** Rows younger than this are left alone: their producer may not have enqueued yet. */
  graceMs: number;
  pageSize?: number;
}

/**
 * The database is the record; the queue is repaired from it. Finds tasks that should be in
 * the queue and are not — the API died between its commit and its XADD, Redis restarted
 * without persistence or was flushed, a worker died between its outcome write and its queue
 * update — and enqueues each again under a new seq, so a straggling old message is stale.
 */
export class Reconciler extends PeriodicComponent {
  constructor(private readonly d: ReconcilerDeps) {
    super('reconciler', d.intervalMs, d.logger);
  }

  async tick(): Promise<number> {
    const pageSize = this.d.pageSize ?? 1000;
    let after: string | null = null;
    let repaired = 0;
    for (;;) {
      const page = await this.d.store.activeTasks(after, pageSize, this.d.graceMs);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      const held = await this.d.queue.lookup(page.map((t) => ({ taskId: t.id, queue: t.queue })));
      for (const t of page) {
        const heldSeq = held.get(t.id);
        if (heldSeq !== undefined && heldSeq >= t.seq) continue;
        const seq = await this.d.store.bumpSeq(t.id, t.seq);
        if (seq === null) continue; // changed meanwhile: someone else is handling it
        await this.d.queue.enqueue([
          {
            taskId: t.id,
            seq,
            queue: t.queue,
            priority: t.priority,
            type: t.type,
            dueAt: t.runAt?.getTime() ?? null,
          },
        ]);
        repaired++;
      }
      if (page.length < pageSize) break;
    }
    if (repaired > 0) this.d.logger.warn({ repaired }, 'enqueued tasks the queue had lost');
    return repaired;
  }
}
