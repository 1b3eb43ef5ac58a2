import { randomFillSync } from 'node:crypto';

// UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, then a 32-bit sequence that
// starts at a random value each millisecond and counts up within it, then random bits. Ids made
// by one process are strictly increasing, so "ORDER BY id" is creation order (events of one
// statement keep the order they were listed in) and ids serve as pagination cursors.
// Random bytes come from a pool: one kernel call per few hundred ids, not one per id.

const pool = Buffer.alloc(4096);
let poolAt = pool.length;
let lastMs = -1;
let seq = 0;

/**
 * `n` random bytes from the pool (at most its 4096). The answer is a view of the pool: read it
 * at once, the next call may overwrite it.
 */
export function pooledRandomBytes(n: number): Buffer {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += n;
  return pool.subarray(poolAt - n, poolAt);
}

/** A new UUIDv7, time-ordered and increasing within this process. */
export function newId(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    seq = pooledRandomBytes(4).readUInt32BE(0) >>> 1; // leave room to count up
    lastMs = ms;
  } else {
    seq = (seq + 1) >>> 0;
    if (seq === 0) lastMs++; // 2^32 ids in one millisecond: borrow the next one
    ms = lastMs;
  }
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((seq >>> 28) & 0x0f);
  b[7] = (seq >>> 20) & 0xff;
  b[8] = 0x80 | ((seq >>> 14) & 0x3f);
  b[9] = (seq >>> 6) & 0xff;
  const r = pooledRandomBytes(6);
  b[10] = ((seq << 2) & 0xfc) | (r[0]! & 0x03);
  r.copy(b, 11, 1, 6);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The smallest UUIDv7 of millisecond `ms` (clamped to the 48 bits an id holds): ids made at
 * that millisecond or later sort at or above it, earlier ones below, in PostgreSQL (uuid
 * compares bytes) as in JavaScript. It turns a time into an id bound, so that a primary key
 * serves a time range.
 */
export function firstIdAt(ms: number): string {
  const h = Math.min(Math.max(Math.floor(ms), 0), 2 ** 48 - 1)
    .toString(16)
    .padStart(12, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-0000-0000-000000000000`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical UUID string; anything else cannot name a row. */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
