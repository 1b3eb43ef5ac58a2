import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { hashToken } from '../../lib/auth/tokens';
import { ForbiddenError, RateLimitedError } from '../../lib/errors';
import { authFailureBudget } from '../middleware/admission';
import { clientAddress } from '../middleware/client-address';
import { rateLimitHeaders } from '../middleware/rate-limit';
import type { ConsoleContext, ConsoleDeps, ConsoleEnv } from './console-env';
import { renderPage } from './layout';
import {
  CSRF_FIELD,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
  clearConsoleCookie,
  formField,
  refuseForeignOrigin,
  safeNext,
  sameSecret,
  setConsoleCookie,
} from './session';

/** How long a sign-in form stays usable. */
const SIGN_IN_FORM_SECONDS = 15 * 60;

/** Where a user lands: the overview for ops and admin, the task list for a dev. */
export function landingFor(role: string): string {
  return role === 'dev' ? '/ui/tasks' : '/ui';
}

/**
 * GET/POST /ui/sign-in and POST /ui/sign-out. Signing in takes an API token, authenticated
 * exactly as the API authenticates it, and opens a server-side session (README, "Web
 * console"). The form is protected against login CSRF by a double-submit secret: a cookie
 * only this origin can set, echoed by the form. Failed sign-ins spend the address's budget of
 * failed authentications, shared with the API.
 */
export function signInRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const { auth, sessions, audit, rateLimiter } = d.services;
  const trustProxy = d.settings.TRUST_PROXY;

  const form = async (
    c: ConsoleContext,
    next: string | null,
    error: string | null,
    status: 200 | 401 | 403 | 429 = 200,
  ) => {
    const formSecret = randomBytes(32).toString('base64url');
    setConsoleCookie(c, SIGN_IN_COOKIE, formSecret, trustProxy, SIGN_IN_FORM_SECONDS);
    return renderPage(
      c,
      {
        title: 'Sign in',
        ...(error ? { notice: ['error', error] as const } : {}),
        children: (
          <form method="post" action="/ui/sign-in" class="sign-in">
            <input type="hidden" name={CSRF_FIELD} value={formSecret} />
            {next && <input type="hidden" name="next" value={next} />}
            <p>Sign in with your Procurator API token. The console keeps it only as a hash, in a session.</p>
            <label for="token">API token</label>
            <input
              id="token"
              name="token"
              type="password"
              autocomplete="off"
              spellcheck={false}
              required
              aria-describedby="token-help"
              {...(error ? { 'aria-invalid': 'true' } : {})}
            />
            <p id="token-help" class="hint">
              It starts with <code>prc_</code>. An admin creates users and their tokens (
              <code>procurator create-user</code>, or the Users page).
            </p>
            <button type="submit">Sign in</button>
          </form>
        ),
      },
      status,
    );
  };

  ui.get('/sign-in', async (c) => form(c, safeNext(c.req.query('next')), null));

  ui.post('/sign-in', async (c) => {
    refuseForeignOrigin(c, trustProxy);
    const next = safeNext(await formField(c, 'next'));
    const echoed = await formField(c, CSRF_FIELD);
    const expected = getCookie(c, SIGN_IN_COOKIE);
    if (!echoed || !expected || !sameSecret(echoed, expected)) {
      throw new ForbiddenError(
        'This sign-in form has expired or did not come from this console; sign in again.',
      );
    }
    const { key, rule } = authFailureBudget(clientAddress(c, trustProxy), d.settings);
    const budget = await rateLimiter.take(key, rule, 0);
    if (!budget.allowed) {
      throw new RateLimitedError(
        'Too many failed sign-ins from your address; try again later.',
        budget.retryAfterMs / 1000,
        rateLimitHeaders(budget),
      );
    }
    const token = ((await formField(c, 'token')) ?? '').trim();
    const principal = await auth.authenticate(token);
    if (!principal || principal.legacy) {
      await rateLimiter.take(key, rule, 1);
      return form(
        c,
        next,
        principal?.legacy
          ? 'Deprecated API_TOKENS entries cannot sign in to the console; create a user for this person.'
          : 'That token is not valid (unknown, mistyped, rotated or its user deleted).',
        401,
      );
    }
    // A session this browser had before ends: signing in always starts a new one (no fixation).
    const previous = getCookie(c, SESSION_COOKIE);
    if (previous) await sessions.deleteBySecret(previous);
    const { secret } = await sessions.create(principal.id, hashToken(token));
    await audit.record({
      actor: principal,
      action: 'console.sign_in',
      target: principal.id,
      requestId: c.get('requestId'),
    });
    // Expired sessions go when someone signs in: bounded, and off every other request's path.
    await sessions.deleteExpired().catch((err: unknown) => {
      c.get('logger').warn({ err }, 'could not delete expired console sessions');
    });
    clearConsoleCookie(c, SIGN_IN_COOKIE, trustProxy);
    setConsoleCookie(c, SESSION_COOKIE, secret, trustProxy);
    return c.redirect(next ?? landingFor(principal.role), 303);
  });
}

/** POST /ui/sign-out (behind the session and CSRF checks): the session row goes, then the cookie. */
export function signOutRoute(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  ui.post('/sign-out', async (c) => {
    const session = c.get('session');
    await d.services.sessions.delete(session.id);
    await d.services.audit.record({
      actor: c.get('principal'),
      action: 'console.sign_out',
      target: c.get('principal').id,
      requestId: c.get('requestId'),
    });
    clearConsoleCookie(c, SESSION_COOKIE, d.settings.TRUST_PROXY);
    return c.redirect('/ui/sign-in?done=signed-out', 303);
  });
}
