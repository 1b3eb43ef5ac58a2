import type { MiddlewareHandler } from 'hono';

/**
 * The console's Content-Security-Policy: scripts and styles only from this origin's own
 * files (no inline script or style, no CDN), no plugins, no framing, forms only to itself.
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Headers on every console answer. Pages are never cached (one may show a token, all show
 * data a signed-out browser must not keep); the referrer never leaves the origin (console
 * URLs carry filters and ids).
 */
export function consoleHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.res.headers.set('Content-Security-Policy', CONSOLE_CSP);
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('Referrer-Policy', 'same-origin');
    c.res.headers.set('X-Frame-Options', 'DENY');
    c.res.headers.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  };
}
