import type { FailPointName } from '../../lib/failpoints';
import { FailPoints } from '../../lib/failpoints';

/**
 * Holds execution at one fail point, for one task, until released: a test makes something
 * happen in exactly that window (a cancel between the executor's return and the outcome
 * write, say) instead of hoping a race lands there.
 */
export class FailPointLatch {
  readonly failpoints: FailPoints;
  private taskId?: string;
  private reachedResolve!: () => void;
  private releaseResolve!: () => void;
  /** Resolves when the armed task reaches the point. */
  readonly reached = new Promise<void>((r) => (this.reachedResolve = r));
  private readonly released = new Promise<void>((r) => (this.releaseResolve = r));

  constructor(private readonly point: FailPointName) {
    this.failpoints = FailPoints.hooked((name, at) => {
      if (name !== this.point || this.taskId === undefined || at.taskId !== this.taskId) return;
      this.reachedResolve();
      return this.released;
    });
  }

  /** Holds this task (only this one) at the point, from now on. */
  arm(taskId: string): void {
    this.taskId = taskId;
  }

  release(): void {
    this.releaseResolve();
  }
}
