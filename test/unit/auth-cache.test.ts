import { describe, expect, it } from 'vitest';
import { AuthCache } from '../../lib/auth/auth-cache';
import { Authenticator } from '../../lib/auth/authenticator';
import type { Principal } from '../../lib/auth/roles';
import type { TokenRevocations } from '../../lib/auth/token-revocations';
import { MemoryTokenRevocations, REVOCATION_MARK_MS } from '../../lib/auth/token-revocations';
import { generateToken, hashToken } from '../../lib/auth/tokens';
import type { UserStore } from '../../lib/auth/user-store';
import { silentLogger } from '../../lib/logger';

type Row = Awaited<ReturnType<UserStore['findByTokenHash']>>;

/** A user store that holds one token and counts how often it is asked. */
function fakeUsers(token: string) {
  const state = { valid: true, reads: 0, beforeAnswer: async (): Promise<void> => {} };
  const row = { id: 'u1', name: 'cached', role: 'dev', rateLimitRps: null } as unknown as NonNullable<Row>;
  const users = {
    async findByTokenHash(hash: string): Promise<Row> {
      state.reads++;
      const answer = state.valid && hash === hashToken(token) ? row : null;
      await state.beforeAnswer();
      return answer;
    },
    touch: () => Promise.resolve(),
  } as unknown as UserStore;
  return { users, state };
}

function setup(revocations: TokenRevocations = new MemoryTokenRevocations()) {
  const token = generateToken();
  const { users, state } = fakeUsers(token);
  let now = 1_000_000;
  const cache = new AuthCache<Principal>(() => now, 30_000);
  const auth = new Authenticator(users, {}, silentLogger(), revocations, cache);
  return { token, state, auth, revocations, advance: (ms: number) => (now += ms) };
}

describe('the auth cache', () => {
  it('answers a known token without asking the database again, until its entry expires', async () => {
    const { token, state, auth, advance } = setup();
    expect((await auth.authenticate(token))?.id).toBe('u1');
    expect((await auth.authenticate(token))?.id).toBe('u1');
    expect(state.reads).toBe(1);
    advance(30_001);
    await auth.authenticate(token);
    expect(state.reads).toBe(2);
  });

  it('sends a revoked token back to the database on its next use', async () => {
    const { token, state, auth, revocations } = setup();
    await auth.authenticate(token);
    state.valid = false;
    await revocations.revoke([hashToken(token)]);
    expect(await auth.authenticate(token)).toBeNull();
  });

  it('catches a revocation that commits while the database read is in flight', async () => {
    const { token, state, auth, revocations } = setup();
    // The read sees the token valid; the revocation commits and is marked before the
    // entry is cached. The next use must still be refused.
    state.beforeAnswer = async () => {
      state.valid = false;
      await revocations.revoke([hashToken(token)]);
    };
    expect((await auth.authenticate(token))?.id).toBe('u1');
    state.beforeAnswer = async () => {};
    expect(await auth.authenticate(token)).toBeNull();
  });

  it('asks the database on every request while revocations cannot be read', async () => {
    const unknown: TokenRevocations = {
      revoke: () => Promise.resolve(),
      isRevoked: () => Promise.resolve(null),
    };
    const { token, state, auth } = setup(unknown);
    await auth.authenticate(token);
    await auth.authenticate(token);
    await auth.authenticate(token);
    expect(state.reads).toBe(3);
  });

  it('never asks the database for a malformed token', async () => {
    const { state, auth } = setup();
    for (const t of ['prc_short', `prc_${'A'.repeat(49)}`, 'x'.repeat(600), '']) {
      expect(await auth.authenticate(t)).toBeNull();
    }
    expect(state.reads).toBe(0);
  });

  it('keeps revocation marks longer than cache entries live', async () => {
    expect(REVOCATION_MARK_MS).toBeGreaterThan(10 * 30_000);
    let now = 0;
    const marks = new MemoryTokenRevocations(() => now);
    await marks.revoke(['h']);
    now += REVOCATION_MARK_MS - 1;
    expect(await marks.isRevoked('h')).toBe(true);
    now += 2;
    expect(await marks.isRevoked('h')).toBe(false);
  });

  it('drops the oldest entry when full', () => {
    const cache = new AuthCache<number>(Date.now, 60_000, 2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, 2, 3]);
  });
});
