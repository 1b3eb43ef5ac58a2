/**
 * Coalesces concurrent single-item calls into batched calls: items submitted while a batch
 * is being written wait and go out together in the next one. At low load a call goes out on
 * the next turn of the event loop (no added latency worth measuring); under load the batch
 * size grows with the load, which is what makes the database keep up.
 */
export interface CoalescerOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Most batches in flight at once (e.g. a share of the connection pool). */
  maxConcurrent: number;
  /**
   * When a batch fails with an error this says is not transient, run its items one by one, so
   * that one bad item (a value the database refuses) fails alone, not with its batch-mates.
   */
  isolateOnError?: (err: unknown) => boolean;
  /**
   * When no batch is in flight, send at the end of the current turn instead of the next one.
   * For callers that go on without waiting for the result (the API answers a submission while
   * its enqueue runs): the next turn would come only after what they do next, the answer's
   * write included. Under load batches are in flight, and calls wait for them as before.
   */
  eager?: boolean;
}

interface Waiter<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export class Coalescer<I, O> {
  private pending: Waiter<I, O>[] = [];
  private scheduled = false;
  private inflight = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly options: CoalescerOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      this.flush();
    };
    if (this.options.eager && this.inflight === 0) queueMicrotask(flush);
    else setImmediate(flush);
  }

  private flush(): void {
    while (this.pending.length > 0 && this.inflight < this.options.maxConcurrent) {
      const batch = this.pending.splice(0, this.options.maxBatch);
      this.inflight++;
      void this.execute(batch).finally(() => {
        this.inflight--;
        if (this.pending.length > 0) this.schedule();
      });
    }
  }

  private async execute(batch: Waiter<I, O>[]): Promise<void> {
    try {
      const out = await this.run(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(out[i] as O));
    } catch (err) {
      if (batch.length > 1 && this.options.isolateOnError?.(err)) {
        await Promise.all(batch.map((w) => this.execute([w])));
        return;
      }
      for (const w of batch) w.reject(err);
    }
  }
}
