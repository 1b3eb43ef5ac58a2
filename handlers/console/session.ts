import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { hasRole } from '../../lib/auth/roles';
import type { Actor } from '../../lib/audit/audit-store';
import type { Role } from '../../lib/auth/roles';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from '../../lib/errors';
import { lazyChild } from '../../lib/logger';
import { rateLimitHeaders, userRule } from '../middleware/rate-limit';
import type { ConsoleContext, ConsoleDeps, ConsoleEnv } from './console-env';

/** The session cookie: only a random secret, whose hash names the session row. */
export const SESSION_COOKIE = 'procurator_session';
/** Before sign-in: the double-submit secret the sign-in form must echo (login CSRF). */
export const SIGN_IN_COOKIE = 'procurator_sign_in';
/** Sent by the console's script on background refreshes: they do not keep a session alive. */
export const REFRESH_HEADER = 'x-console-refresh';
/** Where the script puts the session's CSRF token (forms carry it as the field `_csrf`). */
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

/** Whether the browser reached us over https (directly, or through a trusted proxy). */
export function isHttps(c: Context, trustProxy: boolean): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return trustProxy && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

/** httpOnly (no script reads it), SameSite=Strict (no other site's request carries it), Secure on https. */
export function setConsoleCookie(
  c: Context,
  name: string,
  value: string,
  trustProxy: boolean,
  maxAgeSeconds?: number,
): void {
  setCookie(c, name, value, {
    path: '/ui',
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c, trustProxy),
    ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }),
  });
}

export function clearConsoleCookie(c: Context, name: string, trustProxy: boolean): void {
  deleteCookie(c, name, { path: '/ui', httpOnly: true, sameSite: 'Strict', secure: isHttps(c, trustProxy) });
}

/** Requests the console's script makes (fragments, JSON): answered with problem+json, never a page. */
export function wantsData(c: Context): boolean {
  const p = c.req.path;
  return (
    p.startsWith('/ui/api/') ||
    p.startsWith('/ui/fragments/') ||
    (c.req.header('accept') ?? '').includes('application/json')
  );
}

/** Two secrets compared in constant time. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A `next` address that stays inside the console (no open redirect). */
export function safeNext(next: string | undefined): string | null {
  if (!next || next.length > 2000) return null;
  if (!/^\/ui(?:[/?#]|$)/.test(next) || next.includes('//') || next.includes('\\')) return null;
  return next;
}

/**
 * Who is signed in. A session is valid while it is younger than its idle time AND the token it
 * was opened with is still its user's: the token hash is checked as the API checks a
 * presented token (the authenticator's cache and revocation marks), so rotating the token or
 * deleting the user ends every session opened with it, on every replica, at once. A request
 * without a valid session is sent to the sign-in page (pages) or refused with 401 (the
 * script's requests). Each request then spends from the user's rate limit, as on the API.
 */
export function requireSession(d: ConsoleDeps): MiddlewareHandler<ConsoleEnv> {
  const { sessions, auth, rateLimiter } = d.services;
  return async (c, next) => {
    const secret = getCookie(c, SESSION_COOKIE);
    const session = secret ? await sessions.find(secret, c.req.header(REFRESH_HEADER) !== '1') : null;
    const principal = session ? await auth.byTokenHash(session.tokenHash) : null;
    if (!session || !principal || principal.id !== session.userId) {
      if (session) await sessions.delete(session.id);
      if (secret) clearConsoleCookie(c, SESSION_COOKIE, d.settings.TRUST_PROXY);
      if (wantsData(c) || c.req.method !== 'GET') {
        throw new UnauthorizedError('You are not signed in to the console (or your session has ended).');
      }
      const next = `${c.req.path}${new URL(c.req.url).search}`;
      return c.redirect(`/ui/sign-in?next=${encodeURIComponent(next)}`, 303);
    }
    const bucket = await rateLimiter.take(
      `user:${principal.id}`,
      userRule(principal.rateLimitRps, d.settings),
      1,
    );
    if (!bucket.allowed) {
      throw new RateLimitedError(
        'Rate limit reached; slow down.',
        bucket.retryAfterMs / 1000,
        rateLimitHeaders(bucket),
      );
    }
    c.set('session', session);
    c.set('principal', principal);
    c.set('logger', lazyChild(c.get('logger'), { userId: principal.id }));
    await next();
  };
}

/**
 * Every change (any method but GET and HEAD) carries the session's CSRF token, as the form
 * field `_csrf` or the X-CSRF-Token header, compared in constant time. SameSite=Strict
 * already keeps other sites' requests from carrying the cookie; the token also covers what
 * SameSite does not (a sibling subdomain, an old browser). An Origin header, when sent, must
 * be ours too — an extra check, never the only one.
 */
export function requireCsrf(d: ConsoleDeps): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    refuseForeignOrigin(c, d.settings.TRUST_PROXY);
    const presented = c.req.header(CSRF_HEADER) ?? (await formField(c, CSRF_FIELD));
    if (!presented || !sameSecret(presented, c.get('session').csrfToken)) {
      throw new ForbiddenError(
        'This change did not carry the console’s CSRF token: reload the page and try again.',
      );
    }
    await next();
  };
}

/** Refuses a request whose Origin header names another site. */
export function refuseForeignOrigin(c: Context, trustProxy: boolean): void {
  const origin = c.req.header('origin');
  if (origin === undefined) return;
  // The request URL's host is the Host header's (the Node adapter builds the URL from it).
  const host = (trustProxy ? c.req.header('x-forwarded-host') : undefined) ?? new URL(c.req.url).host;
  let originHost: string | null = null;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = null;
  }
  if (originHost === null || originHost !== host) {
    throw new ForbiddenError('This request came from another site.');
  }
}

/** One field of a form body (parsed once; handlers read the same parse). */
export async function formField(c: Context, name: string): Promise<string | undefined> {
  const type = c.req.header('content-type') ?? '';
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) return undefined;
  const body = await c.req.parseBody({ all: true });
  const v = body[name];
  return typeof v === 'string' ? v : undefined;
}

/** Refuses (403) a signed-in user below `role`: the same least role as the API route doing the same. */
export function needs(role: Role): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    if (!hasRole(p.role, role)) {
      throw new ForbiddenError(`This page needs the ${role} role; you are signed in as ${p.role}.`);
    }
    await next();
  };
}

/** The signed-in user's session CSRF token (for forms and the script). */
export function csrfOf(c: ConsoleContext): string {
  return c.get('session').csrfToken;
}

/** The signed-in user as the actor of a change: what the services write in its audit entry. */
export function actorOf(c: ConsoleContext): Actor {
  return { principal: c.get('principal'), requestId: c.get('requestId') };
}
