// The console's one script (README, "Web console"), served from /ui/assets/console.js under a
// CSP that allows no inline script. Every page works without it; it adds what needs a
// script: live updates, the progress of bulk actions, the live tail, copy buttons and
// confirmations. It never builds markup from data: rows come rendered (and escaped) by the
// server, and are merged by key.

const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';

/** Parses a fragment the server rendered (a template element parses table rows too). */
function parse(html: string): DocumentFragment {
  const t = document.createElement('template');
  t.innerHTML = html;
  return t.content;
}

/** Ticked boxes stay ticked when their row is replaced by a newer version of itself. */
function carryState(from: Element, to: Element): void {
  for (const box of from.querySelectorAll<HTMLInputElement>('input[type="checkbox"]:checked')) {
    const same = to.querySelector<HTMLInputElement>(
      `input[type="checkbox"][name="${CSS.escape(box.name)}"][value="${CSS.escape(box.value)}"]`,
    );
    if (same) same.checked = true;
  }
}

/** Where focus was inside an element that goes, found again in the one that replaces it. */
function focusTarget(active: Element, replaced: Element, by: Element): HTMLElement | null {
  if (active.id) return by.querySelector<HTMLElement>(`#${CSS.escape(active.id)}`);
  if (active instanceof HTMLInputElement && active.name) {
    return by.querySelector<HTMLElement>(
      `input[name="${CSS.escape(active.name)}"][value="${CSS.escape(active.value)}"]`,
    );
  }
  const all = [...replaced.querySelectorAll('a, button, input, select, textarea, summary')];
  const i = all.indexOf(active);
  return i < 0
    ? null
    : ([...by.querySelectorAll<HTMLElement>('a, button, input, select, textarea, summary')][i] ?? null);
}

/**
 * Makes `target`'s children those of `source`, keyed by data-key: a child whose data-version is
 * unchanged is kept as it is (nothing moves under the user's cursor or focus), a changed one is
 * replaced, new ones are added, gone ones removed.
 */
function mergeKeyed(target: Element, source: Element): void {
  const old = new Map<string, Element>();
  for (const child of target.children) {
    const key = child.getAttribute('data-key');
    if (key !== null) old.set(key, child);
  }
  const active = document.activeElement;
  let refocus: HTMLElement | null = null;
  const next: Element[] = [];
  for (const child of [...source.children]) {
    const key = child.getAttribute('data-key');
    const was = key === null ? undefined : old.get(key);
    if (was && was.getAttribute('data-version') === child.getAttribute('data-version')) {
      next.push(was);
      continue;
    }
    if (was) {
      carryState(was, child);
      if (active && was.contains(active)) refocus = focusTarget(active, was, child);
    }
    next.push(child);
  }
  const keep = new Set(next);
  for (const child of [...target.children]) if (!keep.has(child)) child.remove();
  next.forEach((el, i) => {
    const at = target.children[i];
    if (at !== el) target.insertBefore(el, at ?? null);
  });
  refocus?.focus();
}

/** Merges every `[data-fragment-for=id]` of a fragment into the element with that id. */
function applyFragment(html: string): { final: boolean; gap: boolean } {
  const content = parse(html);
  let gap = false;
  for (const part of content.querySelectorAll('[data-fragment-for]')) {
    const target = document.getElementById(part.getAttribute('data-fragment-for') ?? '');
    if (target) mergeKeyed(target, part);
    if (part.getAttribute('data-gap') === 'true') gap = true;
  }
  return { final: content.querySelector('[data-final]') !== null, gap };
}

/** A background request: it does not keep the session alive (README, "Web console"). */
function refreshFetch(url: string): Promise<Response> {
  return fetch(url, { headers: { 'X-Console-Refresh': '1' }, credentials: 'same-origin' });
}

/** A line with a state text and a pause button, before the element that updates by itself. */
function liveControls(before: Element, label: string): { state: HTMLElement; button: HTMLButtonElement } {
  const p = document.createElement('p');
  p.className = 'live-controls';
  const state = document.createElement('span');
  state.setAttribute('role', 'status');
  state.textContent = label;
  const button = document.createElement('button');
  button.type = 'button';
  button.setAttribute('aria-pressed', 'false');
  button.textContent = 'Pause live updates';
  p.append(state, ' ', button);
  before.before(p);
  return { state, button };
}

/** How often a page polls while the live stream tells it when to look. */
const SAFETY_POLL_MS = 15_000;
/** Stream events ask for an update at most this often (a busy system sends thousands a second). */
const STREAM_POKE_MS = 1000;

/**
 * The console's live stream (/ui/api/stream: the live tail, behind the session), used only as
 * a signal: each event asks `poke` for an update, at most once a second. Null without a URL
 * or without EventSource; `connected` is false while it is down (refused, or reconnecting),
 * when the page polls as it would without it.
 */
function openStream(
  url: string | undefined,
  poke: () => void,
): { connected(): boolean; close(): void } | null {
  if (!url || !('EventSource' in window)) return null;
  const source = new EventSource(url);
  let open = false;
  let last = 0;
  let soon: number | undefined;
  const onEvent = () => {
    if (soon !== undefined) return;
    const wait = Math.max(0, last + STREAM_POKE_MS - Date.now());
    soon = window.setTimeout(() => {
      soon = undefined;
      last = Date.now();
      poke();
    }, wait);
  };
  source.addEventListener('open', () => (open = true));
  source.addEventListener('error', () => {
    open = false;
  });
  source.addEventListener('task_event', onEvent);
  source.addEventListener('audit', onEvent);
  return {
    connected: () => open && source.readyState === EventSource.OPEN,
    close: () => {
      clearTimeout(soon);
      source.close();
    },
  };
}

/**
 * An element with data-refresh asks its URL for a fresh fragment every data-refresh-ms (2 s at
 * least), while the tab is visible and the user has not paused it, backing off after errors;
 * it stops when the fragment says nothing more will change, or when the session has ended.
 * With data-live-stream, the live tail's events ask instead, and polling slows to a safety net.
 */
function startRefresh(el: HTMLElement): void {
  const url = el.dataset.refresh!;
  const every = Math.max(2000, Number(el.dataset.refreshMs) || 2000);
  const { state, button } = liveControls(el.closest('.table-wrap') ?? el, 'Updates live.');
  let paused = false;
  let stopped = false;
  let failures = 0;
  let timer: number | undefined;
  let running = false;
  let onStop = () => {};
  const stop = (why: string) => {
    stopped = true;
    onStop();
    clearTimeout(timer);
    state.textContent = why;
    button.hidden = true;
  };
  const schedule = () => {
    clearTimeout(timer);
    // With the live stream open, its events ask for updates; polling is only a safety net then.
    const base = live?.connected() ? SAFETY_POLL_MS : every;
    if (!stopped) timer = window.setTimeout(() => void tick(), base * Math.min(8, 2 ** failures));
  };
  const tick = async () => {
    if (stopped || running) return;
    if (paused || document.hidden) return schedule();
    running = true;
    try {
      const res = await refreshFetch(url);
      if (res.status === 401) return stop('Your session has ended: reload the page to sign in again.');
      if (!res.ok) throw new Error(String(res.status));
      const { final } = applyFragment(await res.text());
      failures = 0;
      if (final) return stop('Up to date: nothing more will change.');
    } catch {
      failures++;
      state.textContent = 'Could not update; trying again.';
    } finally {
      running = false;
    }
    schedule();
  };
  button.addEventListener('click', () => {
    paused = !paused;
    button.setAttribute('aria-pressed', String(paused));
    button.textContent = paused ? 'Resume live updates' : 'Pause live updates';
    state.textContent = paused ? 'Live updates paused.' : 'Updates live.';
    if (!paused) void tick();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void tick();
  });
  const live = openStream(el.dataset.liveStream, () => void tick());
  onStop = () => live?.close();
  schedule();
}

/** The live tail of /ui/logs: entries after the newest one shown, added on top, the oldest leaving. */
function startTail(section: HTMLElement): void {
  const body = section.querySelector<HTMLElement>('#tail-rows');
  if (!body) return;
  const base = section.dataset.tail!;
  const every = Math.max(2000, Number(section.dataset.refreshMs) || 2000);
  const max = Number(body.dataset.maxRows) || 200;
  const state = section.querySelector<HTMLElement>('[data-tail-state]')!;
  state.setAttribute('role', 'status');
  let after = section.dataset.after ?? '';
  let timer: number | undefined;
  let on = false;
  let live: ReturnType<typeof openStream> = null;
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = 'Start live tail';
  state.before(button);
  state.textContent = 'Stopped.';
  const tick = async () => {
    if (!on) return;
    try {
      const url = `${base}${base.includes('?') ? '&' : '?'}after=${encodeURIComponent(after)}`;
      const res = await refreshFetch(url);
      if (res.status === 401) {
        on = false;
        state.textContent = 'Your session has ended: reload the page to sign in again.';
        return;
      }
      if (res.ok) {
        const content = parse(await res.text());
        const part = content.querySelector('[data-fragment-for]');
        const rows = part ? [...part.children] : [];
        const known = new Set([...body.children].map((r) => r.getAttribute('data-key')));
        const fresh = rows.filter((r) => !known.has(r.getAttribute('data-key')));
        body.prepend(...fresh);
        while (body.children.length > max) body.lastElementChild?.remove();
        const newest = body.firstElementChild?.getAttribute('data-key');
        if (newest) after = newest;
        state.textContent =
          part?.getAttribute('data-gap') === 'true'
            ? 'Running; more entries came than it shows at once — search for the rest.'
            : `Running: ${body.children.length} entries shown.`;
      }
    } catch {
      state.textContent = 'Could not update; trying again.';
    }
    clearTimeout(timer);
    if (on) timer = window.setTimeout(() => void tick(), live?.connected() ? SAFETY_POLL_MS : every);
  };
  button.addEventListener('click', () => {
    on = !on;
    button.textContent = on ? 'Stop live tail' : 'Start live tail';
    clearTimeout(timer);
    state.textContent = on ? 'Running.' : 'Stopped.';
    live?.close();
    live = on ? openStream(section.dataset.stream, () => void tick()) : null;
    if (on) void tick();
  });
}

const LABELS: Record<string, string> = {
  cancelled: 'cancelled',
  stopping: 'asked to stop',
  ended: 'had already ended',
};

/**
 * A confirmed bulk action, one chunk per request, with its progress shown as it runs. The
 * server keeps no state between chunks: each answer names where the next one starts.
 */
function startBulk(form: HTMLFormElement): void {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void (async () => {
      const total = Number(form.dataset.total) || 1;
      const panel = form.querySelector<HTMLElement>('[data-progress]')!;
      const bar = panel.querySelector('progress')!;
      const text = panel.querySelector<HTMLElement>('[data-progress-text]')!;
      const submit = form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
      submit.disabled = true;
      panel.hidden = false;
      const doneLabel = form.dataset.doneLabel ?? 'done';
      const totals: Record<string, number> = {};
      let processed = 0;
      let cursor = '';
      for (;;) {
        const body = new URLSearchParams(
          [...new FormData(form)].map(([k, v]) => [k, typeof v === 'string' ? v : v.name]),
        );
        body.set('chunk', '1');
        if (cursor) body.set('cursor', cursor);
        let answer: {
          processed: number;
          counts: Record<string, number>;
          cursor: string | null;
          done: boolean;
        };
        try {
          const res = await fetch(form.action, {
            method: 'POST',
            body,
            headers: { Accept: 'application/json', 'X-CSRF-Token': csrf },
            credentials: 'same-origin',
          });
          if (!res.ok) {
            const problem = (await res.json().catch(() => ({}))) as { detail?: string };
            text.textContent = `Stopped after ${processed}: ${problem.detail ?? `error ${res.status}`}`;
            submit.disabled = false;
            return;
          }
          answer = (await res.json()) as typeof answer;
        } catch {
          text.textContent = `Stopped after ${processed}: the server could not be reached. Submit again to go on.`;
          submit.disabled = false;
          return;
        }
        processed += answer.processed;
        for (const [k, v] of Object.entries(answer.counts)) totals[k] = (totals[k] ?? 0) + v;
        bar.value = Math.min(total, processed);
        bar.textContent = `${Math.round((100 * bar.value) / total)} %`;
        text.textContent = `${processed} of ${total} handled…`;
        if (answer.done || answer.cursor === null) break;
        cursor = answer.cursor;
      }
      bar.value = bar.max;
      const parts = Object.entries(totals).map(
        ([k, v]) => `${v} ${k === 'done' ? doneLabel : (LABELS[k] ?? k)}`,
      );
      text.textContent = `Finished: ${parts.join(', ') || 'nothing to do'}.`;
    })();
  });
}

/** Copy buttons (hidden until this script can make them work). */
function startCopy(button: HTMLButtonElement): void {
  button.hidden = false;
  button.addEventListener('click', () => {
    const source = document.getElementById(button.dataset.copy ?? '');
    if (!source) return;
    const value = source instanceof HTMLInputElement ? source.value : (source.textContent ?? '');
    const done = () => {
      button.textContent = 'Copied';
      window.setTimeout(() => (button.textContent = 'Copy'), 2000);
    };
    navigator.clipboard.writeText(value).then(done, () => {
      if (source instanceof HTMLInputElement) source.select();
      else window.getSelection()?.selectAllChildren(source);
      button.textContent = 'Selected: press Ctrl+C';
    });
  });
}

function start(): void {
  for (const el of document.querySelectorAll<HTMLElement>('[data-refresh]')) startRefresh(el);
  for (const el of document.querySelectorAll<HTMLElement>('[data-tail]')) startTail(el);
  for (const f of document.querySelectorAll<HTMLFormElement>('form[data-bulk]')) startBulk(f);
  for (const b of document.querySelectorAll<HTMLButtonElement>('button[data-copy]')) startCopy(b);
  for (const f of document.querySelectorAll<HTMLFormElement>('form[data-confirm]')) {
    f.addEventListener('submit', (ev) => {
      if (!window.confirm(f.dataset.confirm ?? 'Are you sure?')) ev.preventDefault();
    });
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
