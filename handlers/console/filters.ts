import { z } from 'zod';
import type { FieldProblem } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { QUEUE_NAME_RE } from '../../lib/queue/queue-backend';
import { zodProblems } from '../../lib/tasks/submission';
import { TASK_STATUSES } from '../../lib/tasks/task';
import type { TaskStatus } from '../../lib/tasks/task';
import { decodeCursor } from '../cursor';

/**
 * A time typed into a form: `datetime-local` gives `2025-01-02T10:11` (or with seconds),
 * which the console reads as UTC (its pages show UTC); a full ISO-8601 time is taken as is.
 */
const formTime = z
  .string()
  .trim()
  .max(40)
  .transform((v, ctx) => {
    if (v === '') return undefined;
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(v) ? `${v}Z` : v;
    const t = Date.parse(iso);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(t)) {
      ctx.addIssue({ code: 'custom', message: 'must be a date and time, e.g. 2025-01-02T10:11 (UTC)' });
      return z.NEVER;
    }
    return new Date(t);
  });

const optionalText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .transform((v) => (v === '' ? undefined : v));

/** The task list's filters, as the page's form and links carry them. */
export const TaskFilterSchema = z.object({
  status: z
    .union([z.enum(TASK_STATUSES), z.literal('')])
    .optional()
    .transform((v) => (v ? v : undefined)),
  type: optionalText(200).optional(),
  queue: optionalText(64)
    .optional()
    .refine((v) => v === undefined || QUEUE_NAME_RE.test(v), {
      message: 'must be 1-64 characters of A-Z a-z 0-9 _ . -',
    }),
  since: formTime.optional(),
  until: formTime.optional(),
});

export type TaskFilter = {
  status?: TaskStatus;
  type?: string;
  queue?: string;
  since?: Date;
  until?: Date;
};

/** The dead-letter list's filters (the API's: type and queue). */
export const DlqFilterSchema = TaskFilterSchema.pick({ type: true, queue: true });

/** Parses filter fields; `problems` names each bad one. */
export function parseFilter<S extends z.ZodType>(
  schema: S,
  raw: Record<string, string | undefined>,
): { ok: true; value: z.output<S> } | { ok: false; problems: FieldProblem[] } {
  const r = schema.safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, problems: zodProblems('', r.error) };
}

/** The filter as query parameters (for links, the refresh URL and hidden fields), empty ones left out. */
export function filterParams(f: Record<string, string | Date | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined || v === '') continue;
    out[k] = v instanceof Date ? v.toISOString() : v;
  }
  return out;
}

export function queryString(params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  return q ? `?${q}` : '';
}

/** A page cursor from a link: the API's opaque cursor (400 when it is not one). */
export function cursorOf(raw: string | undefined): string | undefined {
  return raw ? decodeCursor(raw.slice(0, 200)) : undefined;
}

/** The ids of a selection: canonical UUIDs only, at most `max`. */
export function selectedIds(values: readonly string[], max: number): string[] {
  return [...new Set(values.filter((v) => isUuid(v)))].slice(0, max);
}

/** A datetime-local input's value (UTC) for a time. */
export function localInputValue(d: Date | undefined): string {
  return d ? d.toISOString().slice(0, 16) : '';
}
