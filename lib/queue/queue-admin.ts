import type { Actor } from '../audit/audit-store';
import type { TaskStore } from '../tasks/task-store';
import type { QueueBackend } from './queue-backend';
import type { QueuePauseStore, QueueState } from './queue-pauses';

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

export interface QueueAdminDeps {
  queue: QueueBackend;
  tasks: Pick<TaskStore, 'countByQueueAndStatus'>;
  pauses: QueuePauseStore;
}

/** Queues as objects operators look at and act on: their state, pause and resume. */
export class QueueAdmin {
  constructor(private readonly d: QueueAdminDeps) {}

  pause(name: string, actor: Actor): Promise<QueueState> {
    return this.d.pauses.pause(name, actor);
  }

  resume(name: string, actor: Actor): Promise<QueueState> {
    return this.d.pauses.resume(name, actor);
  }

  /** Every queue the queue backend, the dead tasks or a pause know of, by name. */
  async overview(): Promise<QueueOverview[]> {
    const [stats, counts, states] = await Promise.all([
      this.d.queue.stats(),
      this.d.tasks.countByQueueAndStatus(['dead']),
      this.d.pauses.list(),
    ]);
    const byName = new Map(stats.map((s) => [s.name, s]));
    const dead = new Map(counts.map((r) => [r.queue, r.n]));
    const paused = new Map(states.filter((s) => s.paused).map((s) => [s.name, s]));
    const names = new Set([...byName.keys(), ...dead.keys(), ...paused.keys()]);
    return [...names].sort().map((name) => {
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
  }
}
