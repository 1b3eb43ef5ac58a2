import { feishuNotifyPayload } from '../../lib/catalog/feishu-type';
import { PermanentTaskError } from '../../lib/errors';
import type { FeishuClient } from '../../lib/feishu/feishu-client';
import type { Executor } from './executor';

/**
 * feishu.notify. Without a webhook the type stays in the catalog (so submissions are not
 * refused by one worker's configuration) and every attempt fails permanently, saying why.
 */
export function createFeishuNotifyExecutor(client: FeishuClient | null): Executor {
  return async ({ task, signal }) => {
    if (!client)
      throw new PermanentTaskError('FEISHU_WEBHOOK_URL is not configured', 'feishu_not_configured');
    // The runner validated the payload already; parsing again narrows `unknown` without a cast.
    const parsed = feishuNotifyPayload.safeParse(task.payload);
    if (!parsed.success) {
      throw new PermanentTaskError(
        `The payload does not match feishu.notify: ${parsed.error.message}`,
        'invalid_payload',
      );
    }
    const answer = await client.send(parsed.data, signal);
    return { delivered: true, code: answer.code, msg: answer.msg };
  };
}
