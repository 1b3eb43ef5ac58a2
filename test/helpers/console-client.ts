import type { Hono } from 'hono';

/**
 * A browser for the web console over `app.request()`: it keeps the cookies the console sets
 * (as a browser would for the origin) and reads the CSRF token from the pages.
 */
export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie header seen, raw, for attribute checks. */
  readonly setCookies: string[] = [];

  constructor(
    private readonly app: Pick<Hono, 'request'>,
    readonly origin = 'http://console.test',
  ) {}

  async request(
    method: string,
    path: string,
    opts: { form?: Record<string, string | string[]>; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (this.cookies.size > 0) headers.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (opts.form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.form))
        for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
      body = p.toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    const res = await this.app.request(`${this.origin}${path}`, {
      method,
      headers,
      body,
      redirect: 'manual',
    });
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair] = line.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  get(path: string, headers?: Record<string, string>): Promise<Response> {
    return this.request('GET', path, { headers });
  }

  post(
    path: string,
    form: Record<string, string | string[]>,
    headers?: Record<string, string>,
  ): Promise<Response> {
    return this.request('POST', path, { form, headers });
  }

  /** Signs in through the sign-in form; returns the POST's answer. */
  async signIn(token: string, next?: string): Promise<Response> {
    const page = await (
      await this.get(`/ui/sign-in${next ? `?next=${encodeURIComponent(next)}` : ''}`)
    ).text();
    const formSecret = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    return this.post('/ui/sign-in', { _csrf: formSecret, token, ...(next ? { next } : {}) });
  }

  /** The session's CSRF token, from a page's meta tag. */
  async csrf(page = '/ui/tasks'): Promise<string> {
    const html = await (await this.get(page)).text();
    const m = /<meta name="csrf-token" content="([^"]+)"/.exec(html);
    if (!m) throw new Error(`no CSRF token on ${page}: ${html.slice(0, 300)}`);
    return m[1]!;
  }
}
