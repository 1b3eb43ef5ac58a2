import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ProblemError } from '../../lib/errors';
import { onError, problemResponse } from '../middleware/errors';
import type { AppEnv } from '../context';
import type { ConsoleEnv } from './console-env';
import { renderPage } from './layout';
import { wantsData } from './session';

/**
 * The console's one error mapping. The script's requests get problem+json, as the API would
 * answer (the API's own mapping, for anything not a ProblemError). A page gets an error page
 * of the same status, which names what was wrong — and nothing of an unexpected error but the
 * request id.
 */
export async function consoleError(err: Error, c: Context<ConsoleEnv>): Promise<Response> {
  const api = c as unknown as Context<AppEnv>;
  if (wantsData(c)) return err instanceof ProblemError ? problemResponse(api, err) : onError(err, api);
  const answer = err instanceof ProblemError ? problemResponse(api, err) : onError(err, api);
  const problem = (await answer.clone().json()) as { title?: string; detail?: string; status?: number };
  const status = (problem.status ?? 500) as ContentfulStatusCode;
  const principal = c.get('principal') as ConsoleEnv['Variables']['principal'] | undefined;
  const session = c.get('session') as ConsoleEnv['Variables']['session'] | undefined;
  const res = await renderPage(
    c,
    {
      title: status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : (problem.title ?? 'Error'),
      principal,
      csrf: session?.csrfToken,
      notice: ['error', problem.detail ?? 'Something went wrong.'],
      children: (
        <>
          <p>
            {status === 401 ? (
              <a href="/ui/sign-in">Sign in</a>
            ) : (
              <a href={principal ? '/ui' : '/ui/sign-in'}>Back to the console</a>
            )}
          </p>
          <p class="muted">Request id: {c.get('requestId')}</p>
        </>
      ),
    },
    status,
  );
  for (const name of ['Retry-After', 'WWW-Authenticate'] as const) {
    const v = answer.headers.get(name);
    if (v) res.headers.set(name, v);
  }
  return res;
}
