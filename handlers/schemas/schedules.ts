import { z } from '@hono/zod-openapi';
import { taskTemplateSchema } from '../../lib/tasks/submission';
import { CURSOR, LIMIT, pageOf } from './common';

const when = z.iso.datetime();

export const TaskTemplateSchema = taskTemplateSchema.openapi('TaskTemplate', {
  description:
    'The task each firing submits: a submission without `delayMs` and `runAt` (the schedule sets `runAt` to the due time), checked as POST /v1/tasks checks one.',
});

const NAME = z
  .string()
  .min(1)
  .max(128)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, { error: 'must be 1-128 characters without control characters' })
  .openapi({ example: 'nightly-backup' });

const CRON = z.string().min(1).max(200).openapi({
  description:
    '5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; croner syntax (`*/5`, `1-5`, `MON-FRI`, `L`).',
  example: '0 3 * * *',
});

const TIMEZONE = z.string().min(1).max(64).openapi({
  description: 'An IANA time zone the cron expression is read in.',
  example: 'Europe/Berlin',
});

const MISSED_RUNS = z.enum(['skip', 'runOnce']).openapi({
  description:
    'Due times missed while no worker ran: `skip` fires none of them, `runOnce` fires one (the latest). A due time a busy worker reaches late always fires.',
});

const OVERLAP = z.enum(['allow', 'skip']).openapi({
  description: '`skip`: a due time that finds the previous firing’s task unfinished is passed over.',
});

export const NewScheduleSchema = z
  .strictObject({
    name: NAME,
    cron: CRON,
    timezone: TIMEZONE.default('UTC'),
    task: TaskTemplateSchema,
    missedRuns: MISSED_RUNS.default('skip'),
    overlap: OVERLAP.default('allow'),
    paused: z.boolean().default(false),
  })
  .openapi('NewSchedule', { description: 'A recurring schedule. Names are unique per user.' });

export const SchedulePatchSchema = z
  .strictObject({
    name: NAME.optional(),
    cron: CRON.optional(),
    timezone: TIMEZONE.optional(),
    task: TaskTemplateSchema.optional(),
    missedRuns: MISSED_RUNS.optional(),
    overlap: OVERLAP.optional(),
  })
  .openapi('SchedulePatch', {
    description:
      'What to change; takes effect from the next due time (a new cron or time zone recomputes it).',
  });

export const ScheduleSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    task: z.record(z.string(), z.unknown()).openapi({ description: 'The task template, as sent.' }),
    missedRuns: MISSED_RUNS,
    overlap: OVERLAP,
    paused: z.boolean(),
    pausedReason: z.string().nullable().openapi({
      description:
        'Why Procurator paused it (its owner deleted, or no longer allowed the task type); null when a user paused it, or it runs.',
    }),
    nextRunAt: when.nullable().openapi({ description: 'The next due time; null while paused.' }),
    lastRunAt: when
      .nullable()
      .openapi({ description: 'The due time of the last firing (or the time of the last trigger).' }),
    lastTaskId: z.uuid().nullable(),
    createdBy: z.string(),
    createdAt: when,
    updatedAt: when,
  })
  .openapi('Schedule');

export const SchedulePageSchema = pageOf(ScheduleSchema).openapi('SchedulePage');

export const ScheduleListQuery = z.strictObject({ limit: LIMIT, cursor: CURSOR });
