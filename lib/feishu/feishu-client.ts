import { createHmac } from 'node:crypto';
import { PermanentTaskError, RetryableTaskError, RetryAfterError, coerceError } from '../errors';
import type { OutboundClient } from '../outbound/outbound-client';
import { cutText } from '../text';

/**
 * A Feishu (Lark) custom-bot webhook ("自定义机器人"), as documented at
 * https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot ("安全设置" → "签名校验"):
 * string_to_sign = `${timestamp}\n${secret}` with the timestamp in seconds and at most one hour
 * off Feishu's clock; sign = base64(HmacSHA256(key = string_to_sign, message = "")). Note the
 * key is the string to sign and the message is empty — unlike DingTalk, which keys with the
 * secret; some third-party SDKs get this wrong. `timestamp` and `sign` travel in the JSON body
 * next to `msg_type`. Feishu answers HTTP 200 with `{code, msg}` for most failures: 19021 "sign
 * match fail or timestamp is not within one hour", and likewise keyword or IP-allowlist misses.
 */

export type FeishuMessage = { text: string } | { card: Record<string, unknown> };

/** The narrowest view of a Feishu bot, for callers that only send (the dead-letter alerter). */
export interface FeishuSender {
  send(message: FeishuMessage, signal?: AbortSignal): Promise<unknown>;
}

export interface FeishuClientOptions {
  webhookUrl: string;
  secret?: string;
  outbound: OutboundClient;
  /** Milliseconds since the epoch; a seam for tests of the signature window. */
  now?: () => number;
  /** Whole-request deadline; Feishu answers in well under a second when healthy. */
  timeoutMs?: number;
}

export interface FeishuSendResult {
  code: number;
  msg: string;
}

// Feishu's "too many requests" answers seen in the wild: 11232 (custom-bot frequency limit, about
// 100 requests a minute), 11233 (chat rate limit), 99991400 (open-platform frequency limit).
// 9499 is used both for "too many request" and "Bad Request", so for it — and any code not
// listed — the message decides.
const RATE_LIMIT_CODES: ReadonlySet<number> = new Set([11232, 11233, 99991400]);
const RATE_LIMIT_MSG = /frequen|rate.?limit|too many req/i;
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Feishu's custom-bot signature for `timestampSeconds`. */
export function feishuSign(timestampSeconds: number, secret: string): string {
  return createHmac('sha256', `${timestampSeconds}\n${secret}`).update('').digest('base64');
}

/** Sends messages to one Feishu custom bot and turns every answer into success or a task error. */
export class FeishuClient implements FeishuSender {
  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(private readonly options: FeishuClientOptions) {
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Posts one message. Throws RetryableTaskError/RetryAfterError for what a later attempt may
   * fix (429, 5xx, network, Feishu rate limits) and PermanentTaskError for the rest. Custom
   * bots have no idempotency key, so a retried attempt whose first try did arrive duplicates
   * the message; for notifications that is the lesser evil.
   */
  async send(message: FeishuMessage, signal?: AbortSignal): Promise<FeishuSendResult> {
    const body: Record<string, unknown> = {};
    if (this.options.secret) {
      const timestamp = Math.floor(this.now() / 1000);
      body.timestamp = String(timestamp);
      body.sign = feishuSign(timestamp, this.options.secret);
    }
    if ('text' in message) {
      body.msg_type = 'text';
      body.content = { text: message.text };
    } else {
      body.msg_type = 'interactive';
      body.card = message.card;
    }

    let res;
    try {
      res = await this.options.outbound.request({
        url: this.options.webhookUrl,
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
        timeoutMs: this.timeoutMs,
        signal,
        maxResponseBytes: MAX_RESPONSE_BYTES,
      });
    } catch (err) {
      // The outbound client's own verdicts (e.g. a blocked destination) and aborts stand as
      // thrown; anything else is a network failure worth another attempt. The webhook URL is
      // never put in a message: its last segment is the bot's credential.
      if (err instanceof PermanentTaskError || err instanceof RetryableTaskError || signal?.aborted)
        throw err;
      throw new RetryableTaskError(`Feishu request failed: ${coerceError(err).message}`, 'feishu_network');
    }

    const answer = parseAnswer(res.body);
    const detail = answer ? ` (Feishu code ${answer.code}: ${answer.msg})` : '';
    if (res.status < 200 || res.status > 299) {
      const code = `feishu_http_${res.status}`;
      const text = `Feishu answered HTTP ${res.status}${detail}`;
      if (res.status === 429) {
        const delayMs = retryAfterMs(res.headers['retry-after']);
        throw delayMs === undefined
          ? new RetryableTaskError(text, code)
          : new RetryAfterError(text, delayMs, code);
      }
      if (res.status >= 500 || res.status === 408) throw new RetryableTaskError(text, code);
      throw new PermanentTaskError(text, code);
    }
    if (!answer) {
      // Not Feishu (a misconfigured URL answering HTML, say): report it rather than claim delivery.
      throw new PermanentTaskError(
        `Feishu answered HTTP ${res.status} without a JSON {code, msg} body`,
        'feishu_invalid_response',
      );
    }
    if (answer.code === 0) return answer;
    const text = `Feishu rejected the message: code ${answer.code}: ${answer.msg}`;
    if (RATE_LIMIT_CODES.has(answer.code) || RATE_LIMIT_MSG.test(answer.msg)) {
      throw new RetryableTaskError(text, `feishu_${answer.code}`);
    }
    throw new PermanentTaskError(text, `feishu_${answer.code}`);
  }
}

/** `{code, msg}`, or the older `{StatusCode, StatusMessage}` that some deployments still send. */
function parseAnswer(body: string): FeishuSendResult | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as Record<string, unknown>;
  const code = typeof o.code === 'number' ? o.code : o.StatusCode;
  if (typeof code !== 'number') return undefined;
  const msg = typeof o.msg === 'string' ? o.msg : typeof o.StatusMessage === 'string' ? o.StatusMessage : '';
  return { code, msg: cutText(msg, 500) };
}

/** Retry-After in seconds or as an HTTP date; capped so a hostile answer cannot park a task. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), 10 * 60_000);
}
