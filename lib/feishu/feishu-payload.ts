import { z } from 'zod';

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
