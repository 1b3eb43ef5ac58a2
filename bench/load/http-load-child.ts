import autocannon from 'autocannon';
import { childInput, report, runChild } from './child-side';
import type { HttpLoadMessage, HttpLoadOptions } from './http-load';

/** Child of httpLoad(): one optional warm-up run, then the measured run; reports, then idles. */
runChild(async () => {
  const o = childInput<HttpLoadOptions>();
  const base: autocannon.Options = {
    url: o.url,
    method: o.method,
    headers: o.headers,
    body: o.body,
    connections: o.connections,
    pipelining: 1,
    timeout: 10,
  };
  // The warm-up lets the server JIT, fill its pools and open its connections; its figures are
  // dropped. A separate run rather than autocannon's `warmup` option, which its types lack.
  if (o.warmupSeconds && o.warmupSeconds > 0) await autocannon({ ...base, duration: o.warmupSeconds });
  const r = await autocannon({ ...base, duration: o.durationSeconds });
  report<HttpLoadMessage>({
    type: 'result',
    // Accepted requests only: a server answering 429 or 500 fast must not look fast.
    requestsPerSecond: r['2xx'] / r.duration,
    // autocannon records latency of 2xx responses in whole milliseconds (its HDR histogram's
    // lowest discernible value is 1 ms), so sub-millisecond differences do not show here.
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  });
  return () => Promise.resolve();
});
