/** Why an attempt was stopped. Only timeout and cancel lead to an outcome write. */
export type AbortReason = 'timeout' | 'cancelled' | 'lease_lost' | 'shutdown';

/**
 * How an attempt (or the runner's outcome writes) is stopped: once, with the first reason
 * given. The AbortSignal an executor may listen to is made only when something asks for it:
 * most executors never look at theirs, and an AbortController per attempt, with a listener
 * on it, was about 5 % of a worker's CPU at concurrency 2,000 (README "Benchmarks").
 */
export class AttemptAbort {
  private why?: AbortReason;
  private controller?: AbortController;
  private listeners?: ((reason: AbortReason) => void)[];

  get aborted(): boolean {
    return this.why !== undefined;
  }

  get reason(): AbortReason | undefined {
    return this.why;
  }

  /** An AbortSignal that fires with this abort: made on first use, already aborted if this is. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.why !== undefined) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** Stops the attempt with `reason`; an abort that already happened keeps its own. */
  abort(reason: AbortReason): void {
    if (this.why !== undefined) return;
    this.why = reason;
    this.controller?.abort(reason);
    const told = this.listeners ?? [];
    this.listeners = undefined;
    for (const listener of told) listener(reason);
  }

  /** Calls `listener` once when aborted (at once if it is); the function returned stops that. */
  onAbort(listener: (reason: AbortReason) => void): () => void {
    if (this.why !== undefined) {
      listener(this.why);
      return () => {};
    }
    (this.listeners ??= []).push(listener);
    return () => {
      this.listeners = this.listeners?.filter((l) => l !== listener);
    };
  }
}
