import { z } from 'zod';
import { defineTaskType } from '../../lib/catalog/task-type';

/**
 * A test task type, `test.hold`, whose attempts record their start and then hold their worker
 * slot until the test lets them go: one (`letGo`), or all of them, those yet to start included
 * (`open`). An aborted attempt gives way, so that a test failing before it lets go does not
 * hold its worker's stop forever. `ends` says when each task was let go.
 */
export function holdType() {
  const started = new Set<string>();
  const ends = new Map<string, number>();
  const holding = new Map<string, () => void>();
  let opened = false;
  return {
    started,
    ends,
    letGo: (taskId: string) => holding.get(taskId)?.(),
    open: () => {
      opened = true;
      for (const go of [...holding.values()]) go();
    },
    type: defineTaskType({
      type: 'test.hold',
      description: 'test: holds its slot until let go',
      payload: z.strictObject({}),
      execute: ({ task, signal }) => {
        started.add(task.id);
        return new Promise((resolve, reject) => {
          const go = () => {
            holding.delete(task.id);
            ends.set(task.id, Date.now());
            resolve({ released: true });
          };
          if (opened) return go();
          holding.set(task.id, go);
          signal.addEventListener(
            'abort',
            () => {
              holding.delete(task.id);
              reject(new Error(`aborted: ${String(signal.reason)}`));
            },
            { once: true },
          );
        });
      },
    }),
  };
}
