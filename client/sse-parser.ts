/** A server-sent event, or a comment line (what keeps an idle stream alive). */
export type SseMessage =
  | { kind: 'event'; id: string | undefined; event: string; data: string }
  | { kind: 'comment'; text: string };

/**
 * The text/event-stream format as the HTML standard parses it (fields `id`, `event`,
 * `data`; `retry` ignored; a blank line dispatches), fed chunk by chunk as they arrive; a
 * line split across chunks waits for its end.
 */
export class SseParser {
  private buffer = '';
  private id: string | undefined;
  private event = '';
  private data: string[] = [];
  private sawId = false;

  /** The messages completed by `chunk`. */
  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return { kind: 'comment', text: line.slice(1).trimStart() };
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\u0000')) {
      this.id = value;
      this.sawId = true;
    }
    return undefined;
  }

  private dispatch(): SseMessage | undefined {
    const data = this.data;
    const event = this.event || 'message';
    this.data = [];
    this.event = '';
    const id = this.sawId ? this.id : undefined;
    this.sawId = false;
    if (data.length === 0) return undefined;
    return { kind: 'event', id, event, data: data.join('\n') };
  }
}
