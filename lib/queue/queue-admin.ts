import type { Actor } from '../audit/audit-store';
import { ConflictError, NotFoundError } from '../errors';
import type { Logger } from '../logger';
import type { TaskStore } from '../tasks/task-store';
import type { QueueBackend } from './queue-backend';
import type { QueuePauseStore, QueueState } from './queue-pauses';
import type { QueueRegistry } from './queue-registry';

/** One queue as operators see it: the queue's counts, the database's dead count and pause. */
export interface QueueOverview {
  name: string;
  length: number;
  pending: number;
  delayed: number;
  dead: number;
  consumers: number;
  paused: boolean;
  pausedAt: string | null;
  /** How long the oldest task ready to start has waited, in seconds (0 when none waits). */
  oldestAgeSeconds: number;
}

/** A worker alive, as the queues' consumer groups see it. */
export interface QueueWorker {
  id: string;
  /** The queues it reads. */
  queues: string[];
}

export interface QueueAdminDeps {
  queue: QueueBackend;
  tasks: Pick<TaskStore, 'countByQueueAndStatus'>;
  pauses: QueuePauseStore;
  registry: Pick<QueueRegistry, 'remove' | 'ensure'>;
  logger: Logger;
}

/** Queues as objects operators look at and act on: their state, pause, resume and delete. */
export class QueueAdmin {
  constructor(private readonly d: QueueAdminDeps) {}

  pause(name: string, actor: Actor): Promise<QueueState> {
    return this.d.pauses.pause(name, actor);
  }

  resume(name: string, actor: Actor): Promise<QueueState> {
    return this.d.pauses.resume(name, actor);
  }

  /**
   * Deletes a queue that holds no live task: its name (and pause) in the database, then its
   * keys in the queue. A queue with live tasks is 409; one nobody knows, 404. Dead and ended
   * tasks of the queue stay (a replay registers the queue again).
   */
  async remove(name: string, actor: Actor): Promise<void> {
    const { live, existed } = await this.d.registry.remove(name, actor);
    if (live > 0) {
      throw new ConflictError(
        `Queue ${JSON.stringify(name)} holds ${live} live task(s) (scheduled, queued, running or retrying); ` +
          'cancel them or let them end first.',
      );
    }
    const inQueue = (await this.d.queue.stats()).some((s) => s.name === name);
    if (!existed && !inQueue) throw new NotFoundError(`No queue named ${JSON.stringify(name)}.`);
    await this.d.queue.removeQueue(name);
    // A submission that raced the delete (its API process still knew the name) has a live
    // task in the queue now: the name is registered again, and the reconciler queues the task
    // again if its message went with the keys.
    const { live: after } = await this.d.registry.remove(name, actor);
    if (after > 0) {
      await this.d.registry.ensure([{ queue: name, path: 'name' }]);
      this.d.logger.warn(
        { queue: name, live: after },
        'a submission raced a queue delete; the queue was kept',
      );
    }
  }

  /** Every queue registered or known to the queue backend, by name. */
  async overview(): Promise<QueueOverview[]> {
    return (await this.status()).queues;
  }

  /**
   * The queues as `overview` lists them, and the workers alive: the consumers each queue's
   * group counts as live (they read it within ACTIVE_CONSUMER_MS, or hold its messages),
   * with the queues they read. One look at the queue for both.
   */
  async status(): Promise<{ queues: QueueOverview[]; workers: QueueWorker[] }> {
    const [stats, counts, states] = await Promise.all([
      this.d.queue.stats(),
      this.d.tasks.countByQueueAndStatus(['dead']),
      this.d.pauses.list(),
    ]);
    const byName = new Map(stats.map((s) => [s.name, s]));
    const dead = new Map(counts.map((r) => [r.queue, r.n]));
    const paused = new Map(states.filter((s) => s.paused).map((s) => [s.name, s]));
    // Every registered name (a deleted queue's dead tasks do not bring it back) and whatever
    // the queue itself holds.
    const names = new Set([...byName.keys(), ...states.map((s) => s.name)]);
    const queues = [...names].sort().map((name) => {
      const s = byName.get(name);
      return {
        name,
        length: s?.length ?? 0,
        pending: s?.pending ?? 0,
        delayed: s?.delayed ?? 0,
        dead: dead.get(name) ?? 0,
        consumers: s?.consumers ?? 0,
        paused: paused.has(name),
        pausedAt: paused.get(name)?.pausedAt ?? null,
        oldestAgeSeconds: s?.oldestAgeSeconds ?? 0,
      };
    });
    const workers = new Map<string, string[]>();
    for (const s of stats) {
      for (const w of s.workers) workers.set(w, [...(workers.get(w) ?? []), s.name]);
    }
    return {
      queues,
      workers: [...workers].sort(([a], [b]) => a.localeCompare(b)).map(([id, qs]) => ({ id, queues: qs })),
    };
  }
}
