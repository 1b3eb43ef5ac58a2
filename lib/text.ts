/**
 * Text and JSON as PostgreSQL will store them. JavaScript strings are UTF-16 and may hold an
 * unpaired surrogate (half of an emoji cut off, or a `\ud800` escape in upstream JSON);
 * jsonb refuses one (and NUL, which text refuses too), and a write that keeps failing on a
 * value would never let its message be acknowledged.
 */

/** `s` cut to at most `max` UTF-16 units without splitting a character in two. */
export function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  const last = s.charCodeAt(max - 1);
  // A high surrogate at the cut would lose its low half: cut before it.
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** `s` with every unpaired surrogate and NUL replaced by U+FFFD. */
export function storableText(s: string): string {
  const w = s.isWellFormed() ? s : s.toWellFormed();
  return w.includes('\u0000') ? w.replaceAll('\u0000', '\ufffd') : w;
}

// JSON.stringify writes an unpaired surrogate as a \udXXX escape (a paired one as the
// character itself), and NUL as \u0000; an escape is one preceded by an even number of
// backslashes (an odd number escapes the backslash instead).
const REFUSED_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi;

/** JSON text from JSON.stringify made storable as jsonb: those escapes become U+FFFD. */
export function storableJson(json: string): string {
  return json.includes('\\u') ? json.replace(REFUSED_ESCAPE, '$1\\ufffd') : json;
}

/** A value as jsonb-storable JSON text. */
export function jsonbText(value: unknown): string {
  return storableJson(JSON.stringify(value ?? null));
}
