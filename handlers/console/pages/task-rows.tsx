import type { FC } from 'hono/jsx';
import type { TaskRecord } from '../../../lib/tasks/task';
import { SelectTaskCell, Status, TaskLink, Time } from '../components';

/**
 * The rows of a task table, rendered the same for the page and for its live refresh. Each row
 * is keyed by the task id and versioned by its last change, so the script replaces only the
 * rows that changed and keeps what the user selected.
 */
export const TaskRows: FC<{ tasks: TaskRecord[]; selectable: boolean; columns: number }> = ({
  tasks,
  selectable,
  columns,
}) => (
  <>
    {tasks.length === 0 && (
      <tr data-key="empty" data-version="0">
        <td colspan={columns} class="muted">
          No task matches.
        </td>
      </tr>
    )}
    {tasks.map((t) => (
      <tr data-key={t.id} data-version={`${t.updatedAt.toISOString()}/${t.status}`}>
        {selectable && <SelectTaskCell id={t.id} form="task-selection" />}
        <td>
          <TaskLink id={t.id} />
        </td>
        <td>{t.type}</td>
        <td>{t.queue}</td>
        <td>
          <Status status={t.status} />
        </td>
        <td class="num">
          {t.attempts}/{t.maxAttempts}
        </td>
        <td>
          <Time at={t.createdAt} />
        </td>
        <td>
          <Time at={t.updatedAt} />
        </td>
      </tr>
    ))}
  </>
);

/** The header row matching TaskRows. */
export const TaskHead: FC<{ selectable: boolean }> = ({ selectable }) => (
  <thead>
    <tr>
      {selectable && (
        <th scope="col">
          <span class="visually-hidden">Select</span>
        </th>
      )}
      <th scope="col">Task</th>
      <th scope="col">Type</th>
      <th scope="col">Queue</th>
      <th scope="col">Status</th>
      <th scope="col">Attempts</th>
      <th scope="col">Submitted</th>
      <th scope="col">Last change</th>
    </tr>
  </thead>
);
