import type { ExecutorServices } from '../../lib/catalog/task-type';

/**
 * The services a task type's executor gets, for a test that runs one type directly: what the
 * test gives, and for the rest something that fails loudly if the executor reaches for it.
 */
export function executorServices(given: Partial<ExecutorServices> = {}): ExecutorServices {
  return {
    outbound: {
      request: () => Promise.reject(new Error('this test gave the executor no outbound client')),
    },
    feishu: null,
    backups: { targets: {}, dir: '/nonexistent', keep: 1 },
    ...given,
  };
}
