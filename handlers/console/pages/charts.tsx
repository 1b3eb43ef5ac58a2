import type { FC } from 'hono/jsx';
import type { ActivityMinute } from '../../../lib/tasks/task-activity';

const W = 300;
const H = 60;

/**
 * A small bar chart of the last hour, one bar a minute, drawn on the server as SVG (no script,
 * no inline style: presentation attributes only, which the CSP allows). Its text alternative
 * says the total and the busiest minute; the numbers are also in the table beside it.
 */
export const MinuteChart: FC<{
  id: string;
  title: string;
  minutes: ActivityMinute[];
  value: (m: ActivityMinute) => number;
  tone: 'ok' | 'bad';
}> = (p) => {
  const values = p.minutes.map(p.value);
  const total = values.reduce((a, b) => a + b, 0);
  const peak = Math.max(0, ...values);
  const peakAt = p.minutes[values.indexOf(peak)]?.at.slice(11, 16);
  const bar = W / Math.max(1, values.length);
  const summary =
    total === 0
      ? `${p.title}: none in the last hour.`
      : `${p.title}: ${total} in the last hour; busiest minute ${peakAt} UTC with ${peak}.`;
  return (
    <figure class="chart">
      <figcaption id={`${p.id}-caption`}>
        {p.title}: <strong>{total}</strong> in the last hour
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        width="100%"
        height={String(H)}
        preserveAspectRatio="none"
        role="img"
        aria-label={summary}
        class={`chart-${p.tone}`}
      >
        <line x1="0" y1={String(H - 0.5)} x2={String(W)} y2={String(H - 0.5)} class="axis" />
        {values.map((v, i) => {
          const h = peak === 0 ? 0 : Math.max(v > 0 ? 1 : 0, (v / peak) * (H - 4));
          return (
            <rect
              x={(i * bar + 0.5).toFixed(2)}
              y={(H - h).toFixed(2)}
              width={Math.max(0.5, bar - 1).toFixed(2)}
              height={h.toFixed(2)}
            >
              <title>{`${p.minutes[i]!.at.slice(11, 16)} UTC: ${v}`}</title>
            </rect>
          );
        })}
      </svg>
      <p class="chart-scale muted" aria-hidden="true">
        <span>60 min ago</span>
        <span>now</span>
      </p>
    </figure>
  );
};
