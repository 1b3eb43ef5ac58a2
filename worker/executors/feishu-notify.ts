import { defineTaskType } from '../../lib/catalog/task-type';
import { PermanentTaskError } from '../../lib/errors';
import { feishuNotifyPayload } from '../../lib/feishu/feishu-payload';

/**
 * feishu.notify: posts to the configured Feishu bot. It reaches an operators' chat, so only
 * ops may submit it by default. Without a webhook the type stays in the catalog (so
 * submissions are not refused by one worker's configuration) and every attempt fails
 * permanently, saying why.
 */
export const feishuNotifyTaskType = defineTaskType({
  type: 'feishu.notify',
  description:
    'Posts payload.text, or the interactive card payload.card, to the Feishu bot in FEISHU_WEBHOOK_URL, signed when FEISHU_SECRET is set.',
  payload: feishuNotifyPayload,
  minRole: 'ops',
  async execute({ task, signal }, { feishu }) {
    if (!feishu)
      throw new PermanentTaskError('FEISHU_WEBHOOK_URL is not configured', 'feishu_not_configured');
    const answer = await feishu.send(task.payload, signal);
    return { delivered: true, code: answer.code, msg: answer.msg };
  },
});
