import type { Lease } from '../lib/leadership/lease';
import type { Logger } from '../lib/logger';
import type { QueueBackend, QueueEntry } from '../lib/queue/queue-backend';
import type { ActiveTask, AttemptStore } from '../lib/tasks/attempt-store';
import { PeriodicComponent } from './periodic';

export interface ReconcilerDeps {
  queue: QueueBackend;
  store: Pick<AttemptStore, 'activeTasks' | 'bumpSeqs'>;
  /** One reconciler at a time across all workers. */
  lease: Lease;
  logger: Logger;
  intervalMs: number;
  /** Rows younger than this are left alone: their producer may not have enqueued yet. */
  graceMs: number;
  /** Tasks per page: one index scan, one queue lookup, one seq update, one enqueue. */
  pageSize?: number;
  /** Pages per pass; a longer walk goes on where it stopped at the next pass. */
  maxPagesPerPass?: number;
}

/**
 * The database is the record; the queue is repaired from it. Finds tasks that should be in
 * the queue and are not — the API died between its commit and its XADD, Redis restarted
 * without persistence or was flushed, a worker died between its outcome write and its queue
 * update — and enqueues each again under a new seq, so a straggling old message is stale.
 *
 * One worker at a time does it (the `reconciler` lease), a page at a time: the page's lost
 * tasks get their new seqs in one statement and go back to the queue in one batched enqueue,
 * so rebuilding a flushed Redis costs a few round trips per thousand tasks, not two per task.
 */
export class Reconciler extends PeriodicComponent {
  /** Where the walk stopped when a pass reached its bound (null: start from the first id). */
  private after: string | null = null;

  constructor(private readonly d: ReconcilerDeps) {
    super('reconciler', d.intervalMs, d.logger);
  }

  async tick(): Promise<number> {
    if (!(await this.d.lease.acquire())) return 0;
    const pageSize = this.d.pageSize ?? 1000;
    const maxPages = this.d.maxPagesPerPass ?? 100;
    let repaired = 0;
    for (let pages = 0; pages < maxPages; pages++) {
      // Renewed before every page after the first: a pass that outlives its lease stops.
      if (pages > 0 && !(await this.d.lease.acquire())) break;
      const page = await this.d.store.activeTasks(this.after, pageSize, this.d.graceMs);
      this.after = page.length === pageSize ? page[page.length - 1]!.id : null;
      repaired += await this.repair(page);
      if (this.after === null) break;
    }
    if (repaired > 0) this.d.logger.warn({ repaired }, 'enqueued tasks the queue had lost');
    return repaired;
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.d.lease
      .release()
      .catch((err: unknown) => this.d.logger.warn({ err }, 'could not release the reconciler lease'));
  }

  /** Enqueues again the tasks of a page the queue does not hold under their current seq. */
  private async repair(page: readonly ActiveTask[]): Promise<number> {
    if (page.length === 0) return 0;
    const held = await this.d.queue.lookup(page.map((t) => ({ taskId: t.id, queue: t.queue })));
    const lost = page.filter((t) => (held.get(t.id) ?? -1) < t.seq);
    if (lost.length === 0) return 0;
    // A task whose seq changed since the page was read is someone else's to enqueue.
    const seqs = await this.d.store.bumpSeqs(lost.map((t) => ({ id: t.id, seq: t.seq })));
    const entries: QueueEntry[] = [];
    for (const t of lost) {
      const seq = seqs.get(t.id);
      if (seq === undefined) continue;
      entries.push({
        taskId: t.id,
        seq,
        queue: t.queue,
        priority: t.priority,
        type: t.type,
        concurrencyKey: t.concurrencyKey,
        dueAt: t.runAt?.getTime() ?? null,
      });
    }
    await this.d.queue.enqueue(entries);
    return entries.length;
  }
}
