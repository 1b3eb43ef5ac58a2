import type { ClaimedTask, TaskRecord, TaskSummary } from '../tasks/task';
import type { EventBus } from './event-bus';

/** What the API and the worker announce about tasks; metrics and logs listen. */
export interface TaskEventMap {
  submitted: { task: TaskRecord };
  started: { task: ClaimedTask; recovered: boolean; waitMs: number };
  attempt_finished: {
    task: ClaimedTask;
    outcome: 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'lost';
    durationMs: number;
  };
  finished: { task: TaskSummary };
  late_result_discarded: { taskId: string; workerId: string };
  recovered: { count: number };
  message_dropped: { taskId: string; reason: string };
  inflight: { count: number };
  flow_limited: { scopes: string[] };
  callback_tried: { outcome: 'delivered' | 'failed' | 'given_up' };
  /** Tasks a schedule fired (its due times, or a trigger). */
  schedule_fired: { scheduleId: string; count: number };
  /** Rows retention deleted from one table (never a task event: pruned tasks are just gone). */
  rows_pruned: {
    table: 'tasks' | 'task_events' | 'callback_deliveries' | 'task_dependencies' | 'audit_log';
    count: number;
  };
}

export type TaskEvents = EventBus<TaskEventMap>;
