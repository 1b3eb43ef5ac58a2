import { QUEUE_NAME_RE } from '../../lib/queue/queue-backend';
import type { NoticeKind } from './components';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * What an action did, told to the page it redirects to as a code and numbers (`?done=…&n=…`),
 * never as text: a link someone else made can only ever show one of these sentences.
 */
const NOTICES: Record<string, (n: number, name: string) => [NoticeKind, string]> = {
  cancelled: (n) => ['ok', `Cancelled ${plural(n, 'task')}.`],
  stopping: (n) => ['ok', `${plural(n, 'running task')} asked to stop; the worker ends it cancelled.`],
  replayed: (n) => ['ok', `Replayed ${plural(n, 'dead task')}: back to queued.`],
  deleted: (n) => ['ok', `Deleted ${plural(n, 'dead task')} for good (discarded).`],
  paused: (_n, name) => [
    'ok',
    `Queue ${name} is paused: it starts nothing until resumed, and loses nothing.`,
  ],
  resumed: (_n, name) => ['ok', `Queue ${name} is resumed.`],
  'queue-deleted': (_n, name) => ['ok', `Queue ${name} is deleted.`],
  'user-deleted': () => ['ok', 'The user is deleted; its token stopped working at once.'],
  'schedule-paused': () => ['ok', 'The schedule is paused.'],
  'schedule-resumed': () => ['ok', 'The schedule is resumed.'],
  'schedule-saved': () => ['ok', 'The schedule is saved; the change applies from its next due time.'],
  'signed-out': () => ['ok', 'You are signed out.'],
};

/** The notice a redirect asked for, if any. */
export function noticeFrom(query: (name: string) => string | undefined): [NoticeKind, string] | null {
  const make = NOTICES[query('done') ?? ''];
  if (!make) return null;
  const n = Number.parseInt(query('n') ?? '0', 10);
  const name = query('name') ?? '';
  return make(Number.isFinite(n) && n >= 0 ? n : 0, QUEUE_NAME_RE.test(name) ? name : '');
}

/** `path?done=code&n=…&name=…` */
export function withNotice(path: string, code: string, n = 0, name?: string): string {
  const q = new URLSearchParams({ done: code, n: String(n) });
  if (name) q.set('name', name);
  return `${path}${path.includes('?') ? '&' : '?'}${q.toString()}`;
}
