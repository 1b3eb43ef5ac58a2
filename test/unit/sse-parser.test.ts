import { describe, expect, it } from 'vitest';
import { SseParser } from '../../client/sse-parser';
import type { SseMessage } from '../../client/sse-parser';

// The client's text/event-stream parser (used by tail()), on what a network can do to a
// stream: any split between chunks, any of the three line ends, and the fields it ignores.

const stream =
  ': hello\n\nid: 1\nevent: task_event\ndata: {"a":1}\n\n' +
  'id: 2\r\nevent: audit\r\ndata: line one\r\ndata: line two\r\n\r\n' +
  'retry: 5000\rdata:no space\r\r' +
  'data\n\nid: 3\nevent: task_event\n\n';

const expected: SseMessage[] = [
  { kind: 'comment', text: 'hello' },
  { kind: 'event', id: '1', event: 'task_event', data: '{"a":1}' },
  { kind: 'event', id: '2', event: 'audit', data: 'line one\nline two' },
  { kind: 'event', id: undefined, event: 'message', data: 'no space' },
  { kind: 'event', id: undefined, event: 'message', data: '' },
];

describe('SseParser', () => {
  it('parses a whole stream, dispatching on blank lines and ignoring events without data', () => {
    expect(new SseParser().push(stream)).toEqual(expected);
  });

  it.each([1, 2, 3, 7, 13])(
    'gives the same messages when the stream arrives in chunks of %i characters',
    (n) => {
      const p = new SseParser();
      const out: SseMessage[] = [];
      for (let i = 0; i < stream.length; i += n) out.push(...p.push(stream.slice(i, i + n)));
      expect(out).toEqual(expected);
    },
  );

  it('waits for the rest of a line and for the blank line that ends an event', () => {
    const p = new SseParser();
    expect(p.push('id: 9\ndata: {"par')).toEqual([]);
    expect(p.push('tial":true}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ kind: 'event', id: '9', event: 'message', data: '{"partial":true}' }]);
  });
});
