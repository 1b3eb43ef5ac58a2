import { SseParser } from '../../client/sse-parser';
import type { SseMessage } from '../../client/sse-parser';

export type SseEvent = Extract<SseMessage, { kind: 'event' }>;

/**
 * Reads a text/event-stream body as it arrives (with the client's own parser): messages wait
 * in a queue until asked for, each stamped with when it arrived; `end` says how the body
 * ended (done, or an error such as a dropped stream).
 */
export class SseReader {
  private readonly queue: { msg: SseMessage; at: number }[] = [];
  private waiter?: () => void;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Resolves when the body ends: 'done', or the error it failed with. */
  readonly end: Promise<'done' | Error>;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
    this.end = this.pump();
  }

  private async pump(): Promise<'done' | Error> {
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for (;;) {
        const { done, value } = await this.reader.read();
        if (done) return 'done';
        const at = performance.now();
        for (const msg of parser.push(decoder.decode(value, { stream: true }))) this.queue.push({ msg, at });
        this.waiter?.();
      }
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      this.waiter?.();
    }
  }

  /** The next message (event or comment) and when it arrived; throws after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<{ msg: SseMessage; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const first = this.queue.shift();
      if (first) return first;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no server-sent message within ${timeoutMs} ms`);
      const ended = await Promise.race([
        this.end.then(() => true),
        new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), left);
          this.waiter = () => {
            clearTimeout(t);
            this.waiter = undefined;
            resolve(false);
          };
        }),
      ]);
      if (ended && this.queue.length === 0) throw new Error('the stream ended');
    }
  }

  /** The next `n` events (comments skipped), in order. */
  async events(n: number, timeoutMs = 5000): Promise<(SseEvent & { at: number })[]> {
    const out: (SseEvent & { at: number })[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) {
      const { msg, at } = await this.next(Math.max(1, deadline - Date.now()));
      if (msg.kind === 'event') out.push({ ...msg, at });
    }
    return out;
  }

  /** Events that arrive within `ms` (comments skipped). */
  async eventsWithin(ms: number): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return out;
      try {
        const { msg } = await this.next(left);
        if (msg.kind === 'event') out.push(msg);
      } catch {
        return out;
      }
    }
  }

  /** Closes the connection from the reader's side. */
  async close(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
    await this.end;
  }
}
