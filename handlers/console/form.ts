import type { Context } from 'hono';

/** A form body's fields: one value (the first) or all of a repeated one. */
export interface FormFields {
  one(name: string): string | undefined;
  all(name: string): string[];
  /** Every single-valued field, for filter parsing. */
  record(names: readonly string[]): Record<string, string | undefined>;
}

/** Reads a urlencoded or multipart body once (Hono caches the parse for the CSRF check and the handler). */
export async function formFields(c: Context): Promise<FormFields> {
  const type = c.req.header('content-type') ?? '';
  const body = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)
    ? await c.req.parseBody({ all: true })
    : {};
  const all = (name: string): string[] => {
    const v = body[name];
    const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
    return list.filter((x): x is string => typeof x === 'string');
  };
  return {
    one: (name) => all(name)[0],
    all,
    record: (names) => Object.fromEntries(names.map((n) => [n, all(n)[0]])),
  };
}

/** A query string's single-valued fields, for filter parsing. */
export function queryRecord(c: Context, names: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((n) => [n, c.req.query(n)]));
}
