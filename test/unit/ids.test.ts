import { describe, expect, it } from 'vitest';
import { validate, version } from 'uuid';
import { isUuid, newId } from '../../lib/ids';

describe('ids', () => {
  it('are valid UUIDv7, unique and strictly increasing within a process', () => {
    const ids = Array.from({ length: 20_000 }, newId);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    for (const id of ids.slice(0, 100)) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect(isUuid(id)).toBe(true);
    }
  });

  it('carry the creation time in their first 48 bits', () => {
    const before = Date.now();
    const id = newId();
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1);
  });
});
