import { expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, lazyChild } from '../../lib/logger';
it('lazy child loggers log with their bindings and skip disabled levels', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const parent = createLogger('info', sink);
  const child = lazyChild(parent, { requestId: 'r1' });
  child.debug('hidden');
  child.info({ a: 1 }, 'shown');
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({ requestId: 'r1', a: 1, msg: 'shown' });
  expect(child.isLevelEnabled('debug')).toBe(false);
});
