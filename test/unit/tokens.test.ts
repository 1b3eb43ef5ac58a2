import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, isWellFormedToken, sameDigest } from '../../lib/auth/tokens';

describe('API tokens', () => {
  it('have a recognisable prefix, 256 random bits and a checksum', () => {
    const tokens = new Set(Array.from({ length: 200 }, generateToken));
    expect(tokens.size).toBe(200);
    for (const t of tokens) {
      expect(t).toMatch(/^prc_[0-9A-Za-z]{49}$/);
      expect(isWellFormedToken(t)).toBe(true);
    }
  });

  it('refuses a token whose checksum does not match, without a database', () => {
    const t = generateToken();
    const flipped = t.slice(0, 10) + (t[10] === 'a' ? 'b' : 'a') + t.slice(11);
    expect(isWellFormedToken(flipped)).toBe(false);
    expect(isWellFormedToken('prc_short')).toBe(false);
    expect(isWellFormedToken(`xyz_${t.slice(4)}`)).toBe(false);
  });

  it('stores a SHA-256 digest and compares digests', () => {
    const t = generateToken();
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(t)).not.toContain(t.slice(4, 20));
    expect(sameDigest(hashToken(t), hashToken(t))).toBe(true);
    expect(sameDigest(hashToken(t), hashToken(generateToken()))).toBe(false);
  });
});
