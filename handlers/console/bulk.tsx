import type { Context } from 'hono';
import type { FC } from 'hono/jsx';
import { BadRequestError } from '../../lib/errors';
import { MAX_BULK_REPLAY } from '../../lib/tasks/dead-letter-store';
import { Csrf } from './components';
import type { FormFields } from './form';

/** Tasks one request of a bulk action handles: small enough to show progress, large enough to be quick. */
export const BULK_CHUNK = 100;
/** Tasks one bulk action handles at most (as one POST /v1/dlq/replay does); run it again for more. */
export const BULK_LIMIT = MAX_BULK_REPLAY;

/** What one chunk did, and where the next one starts (null: nothing left). */
export interface ChunkResult {
  processed: number;
  counts: Record<string, number>;
  cursor: string | null;
}

export type Chunk = (cursor: string | null) => Promise<ChunkResult>;

/**
 * Runs a confirmed bulk action. The console's script asks for one chunk at a time (`chunk=1`,
 * answered with JSON), so that it can show the progress while the action runs; without the
 * script, the one request runs every chunk (up to BULK_LIMIT tasks) and redirects. Either way
 * each chunk is one call of the same service the API uses. Stateless between chunks (the
 * cursor travels with the request), so any API replica may serve the next one.
 */
export async function runBulk(
  c: Context,
  form: FormFields,
  chunk: Chunk,
  redirectTo: (counts: Record<string, number>) => string,
): Promise<Response> {
  const cursor = form.one('cursor') || null;
  if (cursor !== null && !/^[0-9a-f-]{1,36}$/i.test(cursor))
    throw new BadRequestError('The bulk cursor is invalid.');
  if (form.one('chunk') === '1') {
    const r = await chunk(cursor);
    return c.json({ processed: r.processed, counts: r.counts, cursor: r.cursor, done: r.cursor === null });
  }
  const totals: Record<string, number> = {};
  let at: string | null = cursor;
  let processed = 0;
  do {
    const r = await chunk(at);
    for (const [k, v] of Object.entries(r.counts)) totals[k] = (totals[k] ?? 0) + v;
    processed += r.processed;
    at = r.cursor;
  } while (at !== null && processed < BULK_LIMIT);
  return c.redirect(redirectTo(totals), 303);
}

/** The confirmation of a bulk action: the count, then one button; the script shows progress there. */
export const BulkConfirm: FC<{
  action: string;
  csrf: string;
  count: number;
  capped: boolean;
  verb: string;
  what: string;
  fields: [string, string][];
  back: string;
  danger?: boolean;
  /** What the progress calls a task the action handled (e.g. "replayed"). */
  doneLabel?: string;
}> = (p) => {
  const n = p.capped ? `${p.count.toLocaleString('en')}+` : p.count.toLocaleString('en');
  return p.count === 0 ? (
    <>
      <p>Nothing matches: there is nothing to {p.verb.toLowerCase()}.</p>
      <p>
        <a href={p.back}>Back</a>
      </p>
    </>
  ) : (
    <form
      method="post"
      action={p.action}
      class="bulk"
      data-bulk
      data-total={String(p.count)}
      {...(p.doneLabel ? { 'data-done-label': p.doneLabel } : {})}
    >
      <Csrf token={p.csrf} />
      {p.fields.map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <input type="hidden" name="confirm" value={String(p.count)} />
      <p class="confirm-count">
        {p.verb} <strong>{n}</strong> {p.what}?
      </p>
      {p.capped && (
        <p class="muted">
          One run handles at most {BULK_LIMIT.toLocaleString('en')}; run it again for the rest.
        </p>
      )}
      <div class="actions">
        <button type="submit" class={p.danger ? 'danger' : undefined}>
          {p.verb} {n} {p.what}
        </button>{' '}
        <a href={p.back}>Back</a>
      </div>
      <div class="progress" data-progress hidden>
        <label for="bulk-progress">Progress</label>
        <progress id="bulk-progress" max={String(Math.max(1, p.count))} value="0">
          0 %
        </progress>
        <p role="status" data-progress-text />
      </div>
    </form>
  );
};
