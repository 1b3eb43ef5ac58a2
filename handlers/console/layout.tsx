import type { Child, FC } from 'hono/jsx';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { hasRole } from '../../lib/auth/roles';
import type { Principal } from '../../lib/auth/roles';
import { Csrf, Notice } from './components';
import type { NoticeKind } from './components';
import { CONSOLE_PAGES } from './console-pages';
import { noticeFrom } from './notices';

export interface LayoutProps {
  title: string;
  /** The signed-in user (absent on the sign-in page). */
  principal?: Principal;
  csrf?: string;
  /** The navigation entry this page belongs to. */
  current?: string;
  notice?: [NoticeKind, string] | null;
  children?: Child;
}

/** Every page's frame: a skip link, the header with the navigation the user's role allows, main, footer. */
export const Layout: FC<LayoutProps> = (p) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${p.title} · Procurator`}</title>
      <link rel="stylesheet" href="/ui/assets/console.css" />
      <link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml" />
      {p.csrf && <meta name="csrf-token" content={p.csrf} />}
      <script src="/ui/assets/console.js" defer />
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/ui">
          Procurator
        </a>
        {p.principal && (
          <nav aria-label="Console">
            <ul>
              {CONSOLE_PAGES.filter((page) => hasRole(p.principal!.role, page.role)).map((page) => (
                <li>
                  <a href={page.path} aria-current={p.current === page.path ? 'page' : undefined}>
                    {page.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {p.principal && p.csrf && (
          <form method="post" action="/ui/sign-out" class="who">
            <span>
              <span class="visually-hidden">Signed in as </span>
              <strong>{p.principal.name}</strong> <span class="role">{p.principal.role}</span>
            </span>
            <Csrf token={p.csrf} />
            <button type="submit">Sign out</button>
          </form>
        )}
      </header>
      <main id="main" tabindex={-1}>
        <h1>{p.title}</h1>
        {p.notice && <Notice kind={p.notice[0]}>{p.notice[1]}</Notice>}
        {p.children}
      </main>
      <footer class="bottom">
        <p>
          Procurator web console · <a href="/docs">API explorer</a>
        </p>
      </footer>
    </body>
  </html>
);

/** Answers a whole page (doctype included), with the notice a redirect asked for. */
export async function renderPage(
  c: Context,
  props: Omit<LayoutProps, 'notice'> & { notice?: LayoutProps['notice'] },
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const notice = props.notice === undefined ? noticeFrom((n) => c.req.query(n)) : props.notice;
  const html: string = await (<Layout {...props} notice={notice} />);
  return c.html(`<!doctype html>${html}`, status);
}

/** Answers an HTML fragment the console's script merges into a page. */
export async function renderFragment(c: Context, node: Child): Promise<Response> {
  const html: string = await (<>{node}</>);
  return c.html(html, 200, { 'Cache-Control': 'no-store' });
}
