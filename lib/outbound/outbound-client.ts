/**
 * Outbound HTTP as the rest of Procurator sees it: the `http` executor, callbacks and the
 * Feishu client all go through an OutboundClient, so one implementation decides which
 * destinations are reachable (see safe-outbound-client.ts) and how much of an answer is read.
 */

export interface OutboundRequest {
  url: string;
  method: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Whole-request deadline. */
  timeoutMs: number;
  /** Aborts the request (cancellation, shutdown). */
  signal?: AbortSignal;
  /** Response bytes read at most; the rest is discarded and `truncated` set. */
  maxResponseBytes?: number;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  /** The body decoded as UTF-8 (lossy), cut at maxResponseBytes. */
  body: string;
  truncated: boolean;
}

export interface OutboundClient {
  request(req: OutboundRequest): Promise<OutboundResponse>;
}
