import type { Child, FC } from 'hono/jsx';
import { CSRF_FIELD } from './session';

/** An ISO time as `2025-01-02 10:11:12 UTC`, machine-readable in `datetime`. */
export const Time: FC<{ at: string | Date | null | undefined }> = ({ at }) => {
  if (!at) return <span class="muted">—</span>;
  const iso = typeof at === 'string' ? at : at.toISOString();
  return <time datetime={iso}>{`${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`}</time>;
};

/** A task status as text (never colour alone) in a badge. */
export const Status: FC<{ status: string }> = ({ status }) => (
  <span class={`status status-${status}`} data-status={status}>
    {status}
  </span>
);

/** The hidden field that carries the session's CSRF token in a form. */
export const Csrf: FC<{ token: string }> = ({ token }) => (
  <input type="hidden" name={CSRF_FIELD} value={token} />
);

/** Data too long for a page is cut, with a note (the API has the whole of it). */
const JSON_SHOWN = 64 * 1024;

/** A JSON value, pretty-printed and escaped (hono/jsx escapes every string it renders). */
export const Json: FC<{ value: unknown; label: string }> = ({ value, label }) => {
  let text = value === undefined ? 'null' : (JSON.stringify(value, null, 2) ?? 'null');
  const cut = text.length > JSON_SHOWN;
  if (cut) text = text.slice(0, JSON_SHOWN);
  return (
    <>
      <pre class="json" tabindex={0} role="region" aria-label={`${label} (JSON)`}>
        <code>{text}</code>
      </pre>
      {cut && <p class="muted">Cut at 64 KiB; the API answers the whole of it.</p>}
    </>
  );
};

/** A wide table that scrolls sideways on a phone, reachable from the keyboard. */
export const TableWrap: FC<{ label: string; children?: Child }> = ({ label, children }) => (
  <div class="table-wrap" role="region" aria-label={`${label} table`} tabindex={0}>
    {children}
  </div>
);

export type NoticeKind = 'ok' | 'error';

/** What an action did, or why it could not. Errors are announced at once, other notices politely. */
export const Notice: FC<{ kind: NoticeKind; children?: Child }> = ({ kind, children }) => (
  <div class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
    {children}
  </div>
);

/** A button that posts one action with the CSRF token (a form of its own: works without script). */
export const ActionButton: FC<{
  action: string;
  csrf: string;
  label: string;
  danger?: boolean;
  fields?: Record<string, string>;
  ariaLabel?: string;
  /** Asked (by the script) before a change that cannot be undone. */
  confirm?: string;
}> = (p) => (
  <form method="post" action={p.action} class="inline" {...(p.confirm ? { 'data-confirm': p.confirm } : {})}>
    <Csrf token={p.csrf} />
    {Object.entries(p.fields ?? {}).map(([name, value]) => (
      <input type="hidden" name={name} value={value} />
    ))}
    <button type="submit" class={p.danger ? 'danger' : undefined} aria-label={p.ariaLabel}>
      {p.label}
    </button>
  </form>
);

/** A short id for tables (the full one is in the link's accessible name and its title). */
export function shortId(id: string): string {
  return id.slice(-12);
}

/** A task's short id, linked to its page. */
export const TaskLink: FC<{ id: string }> = ({ id }) => (
  <a href={`/ui/tasks/${id}`} aria-label={`Task ${id}`} title={id}>
    <code>{shortId(id)}</code>
  </a>
);

/** A table row's checkbox: its task is one of the ids the bulk form `form` posts. */
export const SelectTaskCell: FC<{ id: string; form: string }> = ({ id, form }) => (
  <td class="select">
    <input type="checkbox" name="id" value={id} form={form} aria-label={`Select task ${id}`} />
  </td>
);
