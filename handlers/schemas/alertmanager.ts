import { z } from '@hono/zod-openapi';

const labels = z.record(z.string(), z.string());

/** One alert of a notification (Alertmanager's webhook, version 4). */
export const AlertSchema = z
  .object({
    status: z.enum(['firing', 'resolved']),
    labels,
    annotations: labels,
    startsAt: z.string(),
    endsAt: z.string(),
    generatorURL: z.string().optional(),
    fingerprint: z.string().optional(),
  })
  .openapi('Alert');

/** What Alertmanager's webhook receiver POSTs (version 4); unknown fields are kept, not refused. */
export const AlertmanagerNotificationSchema = z
  .looseObject({
    version: z.literal('4'),
    groupKey: z.string(),
    truncatedAlerts: z.int().optional(),
    status: z.enum(['firing', 'resolved']),
    receiver: z.string(),
    groupLabels: labels,
    commonLabels: labels,
    commonAnnotations: labels,
    externalURL: z.string(),
    alerts: z.array(AlertSchema).max(1000),
  })
  .openapi('AlertmanagerNotification');

export type AlertmanagerNotification = z.output<typeof AlertmanagerNotificationSchema>;

export const AlertTaskSchema = z.object({ taskId: z.uuid() }).openapi('AlertTask');
