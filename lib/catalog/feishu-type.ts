import { z } from 'zod';
import type { TaskTypeDefinition } from './task-catalog';

/** Refuses absurd texts at submission; Feishu's own request-size limit still applies on top. */
export const FEISHU_TEXT_MAX_CHARS = 30_000;

/**
 * Exactly one of `{text}` or `{card}`: both variants are strict, so `{text, card}` or an
 * extra field matches neither. A card is passed to Feishu as is (its schema is Feishu's).
 */
export const feishuNotifyPayload = z.union([
  z.strictObject({ text: z.string().min(1).max(FEISHU_TEXT_MAX_CHARS) }),
  z.strictObject({ card: z.record(z.string(), z.unknown()) }),
]);

export type FeishuNotifyPayload = z.infer<typeof feishuNotifyPayload>;

/** `feishu.notify`: posts a text or an interactive card to the configured Feishu bot. */
export function feishuNotifyTaskType(): TaskTypeDefinition {
  return {
    type: 'feishu.notify',
    description:
      'Posts payload.text, or the interactive card payload.card, to the Feishu bot in FEISHU_WEBHOOK_URL, signed when FEISHU_SECRET is set.',
    payload: feishuNotifyPayload,
  };
}
