/**
 * The child's half of child-process.ts: read the input, report messages, stop cleanly.
 * Imported by `*-child.ts` entries (and, for the clock, by their parents).
 */

/** The JSON the parent passed as argv[2]. */
export function childInput<T>(): T {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('bench child: no input on argv[2]');
  return JSON.parse(raw) as T;
}

/** Sends one `{ type }` message to the parent over IPC. */
export function report<M extends { type: string }>(message: M): void {
  process.send?.(message);
}

/**
 * Runs the child: `main` starts the work and returns its shutdown. SIGTERM, SIGINT or the
 * parent going away (IPC disconnect) run the shutdown once, then exit; a second signal, or
 * a shutdown slower than 5 s, exits at once. A failure is reported as `{ type: 'error' }`.
 */
export function runChild(main: () => Promise<() => Promise<void>>): void {
  let shutdown: (() => Promise<void>) | null = null;
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) process.exit(code);
    stopping = true;
    setTimeout(() => process.exit(code), 5000).unref();
    void (shutdown ?? (() => Promise.resolve()))()
      .catch(() => undefined)
      .finally(() => process.exit(code));
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  process.on('disconnect', () => stop(0));
  main().then(
    (s) => {
      shutdown = s;
    },
    (err: unknown) => {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      // Exit only once the message is written: process.exit drops pending IPC sends.
      if (process.send) process.send({ type: 'error', message }, () => stop(1));
      else stop(1);
    },
  );
}

/**
 * Microseconds on CLOCK_MONOTONIC: on Linux `process.hrtime` reads that clock, which every
 * process on the machine shares, so a timestamp taken in one process can be subtracted from
 * one taken in another (unlike `performance.now()`, whose origin is per process).
 */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
