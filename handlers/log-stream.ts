import type { LogTail, TailEntry } from '../lib/logs/log-tail';

const encoder = new TextEncoder();

/** One server-sent event per item: `id`, `event` (its source) and the item's JSON. */
function frame(e: TailEntry): string {
  return `id: ${e.item.id}\nevent: ${e.item.source}\ndata: ${e.json}\n\n`;
}

const KEEP_ALIVE = encoder.encode(': keep-alive\n\n');
const SKIPPED =
  ': older items skipped: more came after Last-Event-ID than a reconnect replays; GET /v1/logs has them\n\n';

/**
 * The tail as a text/event-stream body (README "Live tail"), Web streams only. It is pulled:
 * the next frames are taken from the tail only when the connection has taken the last ones,
 * so a reader that does not keep up leaves its items in the tail's bounded buffer, which
 * drops it when full. A dropped tail (or one ended by shutdown while its reader is stuck)
 * errors the body, which makes the server destroy the connection rather than wait on a
 * reader that does not read; otherwise the body ends cleanly. The reader closing the
 * connection cancels the body, which closes the tail.
 */
export function tailBody(tail: LogTail, keepAliveMs: number): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pulling = false;
  let first = true;
  const dropped = (why: string) => {
    const err = new Error(`log stream ended (${why}): the reader is not reading`);
    // One line where the HTTP server reports it, not a stack trace: nothing is broken.
    err.stack = `${err.name}: ${err.message}`;
    return err;
  };
  void tail.done.then((why) => {
    if (!pulling && why !== 'closed') controller.error(dropped(why));
  });
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        pulling = true;
        try {
          const batch = await tail.take(keepAliveMs);
          if (batch === null) {
            if (tail.ended === 'slow') c.error(dropped('slow'));
            else c.close();
            return;
          }
          if (batch.length === 0) {
            c.enqueue(KEEP_ALIVE);
            return;
          }
          const text = (first && tail.skipped ? SKIPPED : '') + batch.map(frame).join('');
          first = false;
          c.enqueue(encoder.encode(text));
        } finally {
          pulling = false;
        }
      },
      cancel() {
        tail.close();
      },
    },
    { highWaterMark: 0 },
  );
}

/** The headers of a live tail: no caching, no buffering by a proxy (nginx honours the last). */
export const TAIL_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
};
