/**
 * Test-only crash points, to prove recovery at the exact moments that matter. Set
 * FAILPOINTS=name[:n][,name[:n]...] and the process kills itself with SIGKILL (no cleanup, no
 * catch, like `kill -9`) the n-th time (default 1st) execution passes that point. Unset in
 * production: every `hit` is then a no-op. In-process tests use `FailPoints.hooked` instead,
 * to hold execution at a point (and release it) rather than die there.
 */
export const FAIL_POINTS = [
  /** API: the task row is committed, the queue message not yet added. */
  'api.after-commit',
  /** Worker: the executor's side effect happened, its outcome is not yet written. */
  'worker.after-execute',
  /** Worker: the outcome is committed, the message not yet acknowledged. */
  'worker.after-outcome',
  /**
   * Worker: a task's end is committed (the tasks waiting for it released in the database),
   * the released ones not yet enqueued.
   */
  'worker.before-release',
] as const;
export type FailPointName = (typeof FAIL_POINTS)[number];

/** What a hooked point learns about where it was hit. */
export interface FailPointContext {
  taskId?: string;
}

export type FailPointHook = (name: FailPointName, at: FailPointContext) => Promise<void> | void;

export class FailPoints {
  private readonly armed = new Map<string, number>();

  constructor(
    spec: string | undefined,
    private readonly die: () => void = () => process.kill(process.pid, 'SIGKILL'),
    private readonly hook?: FailPointHook,
  ) {
    for (const part of (spec ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [name, n] = part.split(':');
      if (!(FAIL_POINTS as readonly string[]).includes(name!)) throw new Error(`unknown fail point ${name}`);
      this.armed.set(name!, Math.max(1, Number(n ?? 1) || 1));
    }
  }

  /** Fail points that call `hook` at every point instead of killing the process (tests). */
  static hooked(hook: FailPointHook): FailPoints {
    return new FailPoints(undefined, undefined, hook);
  }

  /**
   * Passes a point: may kill the process, or (hooked) return a promise to wait for. Callers
   * await only what is returned, so the hot path pays nothing when no point is armed.
   */
  hit(name: FailPointName, at: FailPointContext = {}): Promise<void> | void {
    if (this.hook) return this.hook(name, at);
    const left = this.armed.get(name);
    if (left === undefined) return;
    if (left <= 1) {
      this.armed.delete(name);
      this.die();
    } else {
      this.armed.set(name, left - 1);
    }
  }
}

/** The fail points of a process with none armed. */
export const NO_FAIL_POINTS = new FailPoints(undefined);
