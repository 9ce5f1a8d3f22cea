/**
 * `/me/analytics`: a creator's profile analytics (the numbers of GET /api/v1/me/analytics, the same
 * service) as a page: totals, visits and clicks per day as server-rendered SVG bars (no chart library,
 * no script), and tables by link, device, country and referrer. `?from=&to=` pick the range (the last
 * 30 days by default). A stale answer says so; no answer at all says the numbers are unavailable.
 */
import type { AppContext } from "../../../context";
import { analyticsRange, type CreatorAnalytics, creatorAnalytics } from "../../../features/creators";
import { DomainError } from "../../../lib/errors";
import { Alert } from "../../components";
import { pageUser, render, seeOther } from "../../page";

const CHART_HEIGHT = 120;
const BAR_GAP = 2;

/** Visits (and clicks, darker, in front) per day as bars scaled to the busiest day. */
function DayChart(props: { days: CreatorAnalytics["byDay"] }) {
  const width = Math.max(300, props.days.length * 12);
  const step = width / Math.max(props.days.length, 1);
  const peak = Math.max(1, ...props.days.map((d) => d.visits), ...props.days.map((d) => d.clicks));
  const h = (n: number) => Math.round((n / peak) * (CHART_HEIGHT - 4));
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${width} ${CHART_HEIGHT}`}
      width="100%"
      height={CHART_HEIGHT}
      role="img"
      aria-label="Visits and clicks per day"
      preserveAspectRatio="none"
    >
      {props.days.map((d, i) => (
        <g>
          <title>{`${d.day}: ${d.visits} visits, ${d.clicks} clicks`}</title>
          <rect
            x={i * step}
            y={CHART_HEIGHT - h(d.visits)}
            width={Math.max(1, step - BAR_GAP)}
            height={h(d.visits)}
            fill="#9bb8e8"
          />
          <rect
            x={i * step}
            y={CHART_HEIGHT - h(d.clicks)}
            width={Math.max(1, step - BAR_GAP)}
            height={h(d.clicks)}
            fill="#2a5db0"
          />
        </g>
      ))}
    </svg>
  );
}

/** A two-column table with a bar per row, relative to the first (largest) row. */
function Breakdown(props: { title: string; unit: string; rows: { label: string; count: number }[] }) {
  const top = Math.max(1, ...props.rows.map((r) => r.count));
  return (
    <section class="card">
      <h2>{props.title}</h2>
      {props.rows.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <table class="breakdown">
          <thead>
            <tr>
              <th scope="col">{props.title.replace(/^By /, "")}</th>
              <th scope="col">{props.unit}</th>
              <th scope="col">
                <span class="visually-hidden">Share</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr>
                <td>{r.label}</td>
                <td>{r.count}</td>
                <td>
                  <svg width="120" height="10" viewBox="0 0 120 10" aria-hidden="true">
                    <rect
                      x="0"
                      y="0"
                      width={Math.max(1, Math.round((r.count / top) * 120))}
                      height="10"
                      fill="#9bb8e8"
                    />
                  </svg>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Totals(props: { a: CreatorAnalytics }) {
  const { a } = props;
  const items: [string, string][] = [
    ["Visits", String(a.visits)],
    ["Unique visitors", String(a.uniqueVisitors)],
    ["Link clicks", String(a.clicks)],
    ["Click-through", `${(a.ctr * 100).toFixed(1)} %`],
    ["Bots (left out)", String(a.bots)],
  ];
  return (
    <dl class="totals">
      {items.map(([label, value]) => (
        <div>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export async function analyticsPage(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) return seeOther(c, `/login?next=${encodeURIComponent("/me/analytics")}`);
  let range: { from: string; to: string };
  try {
    range = analyticsRange({ from: c.req.query("from"), to: c.req.query("to") }, Date.now());
  } catch {
    range = analyticsRange({}, Date.now());
  }
  let data: CreatorAnalytics | null = null;
  try {
    data = await creatorAnalytics(c.env.DB, user.id, range.from, range.to);
  } catch (error) {
    if (!(error instanceof DomainError) || error.code !== "unavailable") throw error;
  }
  return render(c, {
    title: "Profile analytics",
    status: data ? 200 : 503,
    body: (
      <section class="analytics">
        <h1>Profile analytics</h1>
        <form method="get" action="/me/analytics" class="inline">
          <label>
            From <input type="date" name="from" value={range.from} />
          </label>
          <label>
            To <input type="date" name="to" value={range.to} />
          </label>
          <button type="submit">Show</button>
        </form>
        {!data ? (
          <Alert kind="error">Analytics are temporarily unavailable. Please try again in a minute.</Alert>
        ) : (
          <>
            {data.stale ? (
              <Alert kind="info">
                These numbers are from {data.generatedAt}: the latest could not be read just now.
              </Alert>
            ) : null}
            <p class="muted">
              {data.from} to {data.to} (UTC). Updated every few minutes; bots are counted apart and left out of every
              other number.
            </p>
            <Totals a={data} />
            <section class="card">
              <h2>Visits and clicks per day</h2>
              <DayChart days={data.byDay} />
            </section>
            <Breakdown
              title="By link"
              unit="Clicks"
              rows={data.byLink.map((r) => ({ label: r.title ?? "(deleted link)", count: r.clicks }))}
            />
            <Breakdown
              title="By device"
              unit="Visits"
              rows={data.byDevice.map((r) => ({ label: r.device, count: r.visits }))}
            />
            <Breakdown
              title="By country"
              unit="Visits"
              rows={data.byCountry.map((r) => ({ label: r.country ?? "Unknown", count: r.visits }))}
            />
            <Breakdown
              title="By referrer"
              unit="Visits"
              rows={data.byReferrer.map((r) => ({ label: r.host ?? "Direct or hidden", count: r.visits }))}
            />
          </>
        )}
      </section>
    ),
  });
}
