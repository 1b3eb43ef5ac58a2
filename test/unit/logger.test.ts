import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { RetryableTaskError } from '../../lib/errors';
import { createLogger, lazyChild } from '../../lib/logger';
import type { TaskView } from '../../lib/tasks/task';
import { defineTaskType } from '../../lib/catalog/task-type';
import { captureLogger } from '../helpers/log-capture';
import { startStack } from '../helpers/stack';

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

describe('log lines of a worker attempt', () => {
  it('carry taskId, type, attempt and workerId, the executor’s own lines included', async () => {
    const logs = captureLogger('debug');
    // Fails its first attempt and logs in each, so that two attempts' lines can be told apart.
    const logged = defineTaskType({
      type: 'test.logged',
      description: 'test: logs',
      payload: z.object({}),
      execute: ({ attempt, logger }) => {
        logger.info({ step: 'inside' }, 'executor at work');
        if (attempt === 1)
          return Promise.reject(new RetryableTaskError('first attempt fails', 'test_failure'));
        return Promise.resolve({ ok: true });
      },
    });
    const stack = await startStack({ logger: logs.logger, types: [logged] });
    try {
      const res = await stack.request('POST', '/v1/tasks', {
        body: { type: 'test.logged', maxAttempts: 2 },
      });
      const task = (await res.json()) as TaskView;
      expect((await stack.waitForStatus(task.id, ['succeeded', 'dead'])).status).toBe('succeeded');

      const attemptMessages = ['attempt started', 'executor at work', 'attempt failed'];
      const lines = logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => attemptMessages.includes(String(l.msg)));
      const seen = lines.map((l) => `${String(l.attempt)}:${String(l.msg)}`);
      expect(seen).toEqual(
        expect.arrayContaining([
          '1:attempt started',
          '1:executor at work',
          '1:attempt failed',
          '2:attempt started',
          '2:executor at work',
        ]),
      );
      for (const line of lines) {
        expect(line, JSON.stringify(line)).toMatchObject({
          taskId: task.id,
          type: 'test.logged',
          workerId: 'worker-1',
          attempt: expect.any(Number) as number,
        });
      }
    } finally {
      await stack.stop();
    }
  });
});
