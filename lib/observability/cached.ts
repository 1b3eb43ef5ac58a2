/**
 * A value read at most once per `ttlMs`, shared by every caller meanwhile (a scrape asks
 * several gauges for the same numbers, and Prometheus servers may scrape at once). A read
 * that fails is not kept: the next caller tries again.
 */
export function cachedFor<T>(
  ttlMs: number,
  read: () => Promise<T>,
  now: () => number = Date.now,
): () => Promise<T> {
  let value: Promise<T> | undefined;
  let readAt = 0;
  return () => {
    const t = now();
    if (!value || t - readAt >= ttlMs) {
      readAt = t;
      value = read();
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
}
