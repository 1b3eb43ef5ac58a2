import type { TaskRecord } from '../../../lib/tasks/task';

/** A shell word in single quotes (a quote inside becomes '\''). */
function quoted(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** curl that reads a task; the token comes from $PROCURATOR_TOKEN, never from the page. */
export function curlRead(origin: string, task: Pick<TaskRecord, 'id'>): string {
  return `curl -sS -H "X-API-Token: $PROCURATOR_TOKEN" \\\n  ${quoted(`${origin}/v1/tasks/${task.id}`)}`;
}

/** curl that submits the same task again (what it was submitted with, not its outcome). */
export function curlResubmit(origin: string, task: TaskRecord): string {
  const body: Record<string, unknown> = {
    type: task.type,
    queue: task.queue,
    priority: task.priority,
    payload: task.payload,
    maxAttempts: task.maxAttempts,
    timeoutMs: task.timeoutMs,
    metadata: task.metadata,
    ...(task.callbackUrl ? { callbackUrl: task.callbackUrl } : {}),
    ...(task.concurrencyKey ? { concurrencyKey: task.concurrencyKey } : {}),
  };
  return [
    `curl -sS -X POST ${quoted(`${origin}/v1/tasks`)} \\`,
    `  -H "X-API-Token: $PROCURATOR_TOKEN" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${quoted(JSON.stringify(body))}`,
  ].join('\n');
}
