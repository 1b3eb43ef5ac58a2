import { PermanentTaskError } from '../errors';

/** URL query parameters and the libpq variables that carry them; anything else is refused. */
const QUERY_ENV: Record<string, string> = {
  host: 'PGHOST',
  hostaddr: 'PGHOSTADDR',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  dbname: 'PGDATABASE',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  gssencmode: 'PGGSSENCMODE',
  channel_binding: 'PGCHANNELBINDING',
};

/**
 * The libpq environment for a postgres:// URL. Passing the connection this way keeps the
 * password out of argv (visible to every local user in /proc) and out of our logs. Errors
 * name the target, never the URL.
 */
export function pgEnvironment(target: string, url: string): Record<string, string> {
  const invalid = (why: string) =>
    new PermanentTaskError(`The URL of backup target "${target}" is invalid: ${why}.`, 'invalid_target');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid('not a URL (for several hosts use ?host=a,b&port=p1,p2)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw invalid('the scheme is not postgres://');
  const env: Record<string, string> = {};
  try {
    if (u.hostname) env.PGHOST = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (u.port) env.PGPORT = u.port;
    if (u.username) env.PGUSER = decodeURIComponent(u.username);
    if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
    const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (db) env.PGDATABASE = db;
  } catch {
    throw invalid('bad percent-encoding');
  }
  for (const [key, value] of u.searchParams) {
    const name = QUERY_ENV[key];
    if (!name) throw invalid(`unsupported parameter "${key}"`);
    env[name] = value;
  }
  return env;
}
