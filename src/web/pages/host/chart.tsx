/**
 * Tickets by day as a bar chart drawn on the server: an SVG with presentation attributes only (the
 * page's CSP blocks style attributes), a text alternative naming the totals, and the same figures as
 * a table for anyone who cannot or would rather not read a chart. Days without sales between the
 * first and the last are drawn as empty bars, so the axis is time and gaps show as gaps.
 */

/** At most this many days are drawn (the most recent): a longer sale still fits the page budget. */
export const CHART_MAX_DAYS = 92;

const DAY_MS = 86_400_000;

export interface DayCount {
  date: string;
  count: number;
}

/** Every day from the first sale to the last (at most CHART_MAX_DAYS, the latest), zero where none sold. */
export function chartDays(days: readonly DayCount[]): DayCount[] {
  if (days.length === 0) return [];
  const counts = new Map(days.map((d) => [d.date, d.count]));
  const first = Date.parse(`${days[0]?.date}T00:00:00Z`);
  const last = Date.parse(`${days[days.length - 1]?.date}T00:00:00Z`);
  const from = Math.max(first, last - (CHART_MAX_DAYS - 1) * DAY_MS);
  const out: DayCount[] = [];
  for (let at = from; at <= last; at += DAY_MS) {
    const date = new Date(at).toISOString().slice(0, 10);
    out.push({ date, count: counts.get(date) ?? 0 });
  }
  return out;
}

const WIDTH = 600;
const HEIGHT = 220;
const LEFT = 40;
const RIGHT = 8;
const TOP = 12;
const BOTTOM = 28;
/** A bar is never wider than this (viewBox units): a sale of one or two days reads as bars, not a wall. */
const MAX_BAR = 36;
const r1 = (n: number) => Math.round(n * 10) / 10;

export function TicketsByDay(props: { days: readonly DayCount[] }) {
  const days = chartDays(props.days);
  if (days.length === 0) return <p class="muted">No tickets yet: the chart appears with the first sale.</p>;
  const max = Math.max(1, ...days.map((d) => d.count));
  const total = props.days.reduce((sum, d) => sum + d.count, 0);
  const busiest = days.reduce((best, d) => (d.count > best.count ? d : best));
  const slot = (WIDTH - LEFT - RIGHT) / days.length;
  const bar = Math.max(1, Math.min(MAX_BAR, slot * 0.75));
  const plot = HEIGHT - TOP - BOTTOM;
  const first = days[0]?.date ?? "";
  const last = days[days.length - 1]?.date ?? "";
  const shown = days.reduce((sum, d) => sum + d.count, 0);
  return (
    <figure class="chart">
      <svg
        xmlns="http://www.w3.org/2000/svg"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby="chart-title chart-desc"
        focusable="false"
      >
        <title id="chart-title">Tickets by day</title>
        <desc id="chart-desc">
          {`${shown} tickets over ${days.length} ${days.length === 1 ? "day" : "days"}, ${first} to ${last}; the busiest day was ${busiest.date} with ${busiest.count}.`}
        </desc>
        <line x1={LEFT} y1={TOP + plot} x2={WIDTH - RIGHT} y2={TOP + plot} stroke="#767d8c" stroke-width="1" />
        <line x1={LEFT} y1={TOP} x2={WIDTH - RIGHT} y2={TOP} stroke="#d5d9e2" stroke-width="1" />
        <text x={LEFT - 6} y={TOP + 4} text-anchor="end" font-size="12" fill="#4a5568">
          {max}
        </text>
        <text x={LEFT - 6} y={TOP + plot} text-anchor="end" font-size="12" fill="#4a5568">
          0
        </text>
        {days.map((d, i) => {
          const h = (d.count / max) * plot;
          return (
            <rect
              class="bar"
              x={r1(LEFT + i * slot + (slot - bar) / 2)}
              y={r1(TOP + plot - h)}
              width={r1(bar)}
              height={r1(h)}
              fill="#0b57d0"
            >
              <title>{`${d.date}: ${d.count}`}</title>
            </rect>
          );
        })}
        <text x={LEFT} y={HEIGHT - 8} font-size="12" fill="#4a5568">
          {first}
        </text>
        {days.length > 1 ? (
          <text x={WIDTH - RIGHT} y={HEIGHT - 8} text-anchor="end" font-size="12" fill="#4a5568">
            {last}
          </text>
        ) : null}
      </svg>
      <figcaption class="muted small">
        {shown === total
          ? `Tickets by the day they were issued (UTC), ${total} in all.`
          : `The last ${CHART_MAX_DAYS} days of sales (UTC); ${total} tickets in all, every day listed in the table.`}
      </figcaption>
      <details>
        <summary>Tickets by day as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Day (UTC)</th>
              <th scope="col">Tickets</th>
            </tr>
          </thead>
          <tbody>
            {props.days.map((d) => (
              <tr>
                <td>{d.date}</td>
                <td>{d.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
