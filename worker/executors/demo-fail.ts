import { PermanentTaskError, RetryableTaskError } from '../../lib/errors';
import type { Executor } from './executor';

/** demo.fail: always fails, retryable unless the payload says otherwise. */
export const demoFail: Executor<{ message?: string; retryable?: boolean }> = ({ task }) => {
  const message = task.payload.message ?? 'demo.fail failed, as it always does';
  return Promise.reject(
    task.payload.retryable === false
      ? new PermanentTaskError(message, 'demo_failure')
      : new RetryableTaskError(message, 'demo_failure'),
  );
};
