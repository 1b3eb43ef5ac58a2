import { v7 } from 'uuid';

/** A new UUIDv7: time-ordered, so ids sort by creation and serve as pagination cursors. */
export function newId(): string {
  return v7();
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical UUID string; anything else cannot name a row. */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
