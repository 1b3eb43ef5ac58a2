import { cutText } from '../text';
import { FEISHU_TEXT_MAX_CHARS } from '../feishu/feishu-payload';

/** What the summary reads of Alertmanager's webhook notification (version 4). */
export interface AlertGroup {
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  externalURL: string;
  truncatedAlerts?: number;
  alerts: {
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
  }[];
}

const LISTED = 20;

/**
 * One notification as the text of one Feishu message: the group's status and alert names,
 * then each alert (at most 20 listed) with its summary and the labels that set it apart from
 * the group's, and where to see more.
 */
export function alertGroupText(g: AlertGroup): string {
  const firing = g.alerts.filter((a) => a.status === 'firing').length;
  const names = [...new Set(g.alerts.map((a) => a.labels.alertname ?? 'alert'))].join(', ');
  const head = `[${g.status.toUpperCase()}${firing ? `:${firing}` : ''}] ${names}`;
  const group = Object.entries(g.groupLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const lines = [head, ...(group ? [`group: ${group}`] : [])];
  for (const a of g.alerts.slice(0, LISTED)) {
    const own = Object.entries(a.labels)
      .filter(([k, v]) => k !== 'alertname' && g.commonLabels[k] !== v)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const summary = a.annotations.summary ?? a.annotations.description ?? '';
    lines.push(
      `- ${a.status}: ${a.labels.alertname ?? 'alert'}${own ? ` (${own})` : ''}${summary ? `: ${summary}` : ''}`,
    );
  }
  const more = g.alerts.length - LISTED + (g.truncatedAlerts ?? 0);
  if (more > 0) lines.push(`… and ${more} more`);
  lines.push(`Alertmanager: ${g.externalURL} (receiver ${g.receiver})`);
  return cutText(lines.join('\n'), FEISHU_TEXT_MAX_CHARS);
}
