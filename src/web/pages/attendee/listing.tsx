/**
 * `/`: published upcoming events (src/features/events/listing.ts, its keyset cursor behind "More
 * events"), or with `?near=lat,lng` the ones within the radius, nearest first with their distance.
 * Each card's availability badge comes from the D1 read model in one query for the whole page (the
 * event page itself asks the event's inventory, which decides): a badge may trail a sale by a moment,
 * the buy form never does.
 */
import type { AppContext } from "../../../context";
import { distanceKm, listEvents } from "../../../features/events/listing";
import { eventsDeps } from "../../../features/events/routes";
import { ListEventsQuery } from "../../../features/events/schema";
import type { ApiEvent } from "../../../features/events/service";
import { DomainError } from "../../../lib/errors";
import { Alert } from "../../components";
import { render } from "../../page";
import { distance, eventTime, fewLeft, isoTime, price } from "./format";

const PAGE_SIZE = 20;

const NEAR_HELP =
  "That location is not one we can search around. Use “Events near me”, or a latitude,longitude pair like 52.37,4.89.";

/** Seats taken (sold or held by an unexpired hold) per event, from the read model. */
async function takenSeats(db: D1Database, ids: readonly string[], now: number): Promise<Map<string, number>> {
  const taken = new Map<string, number>();
  if (ids.length === 0) return taken;
  const rows = await db
    .prepare(
      `SELECT event_id, SUM(quantity) AS taken FROM orders
       WHERE event_id IN (${ids.map(() => "?").join(", ")})
         AND (status = 'confirmed' OR (status = 'held' AND hold_expires_at > ?))
       GROUP BY event_id`,
    )
    .bind(...ids, now)
    .all<{ event_id: string; taken: number }>();
  for (const row of rows.results) taken.set(row.event_id, row.taken);
  return taken;
}

function EventCard(props: { event: ApiEvent; remaining: number; km: number | null }) {
  const { event, remaining } = props;
  const starts = Date.parse(event.startsAt);
  return (
    <li class="card event-card">
      <h2>
        <a href={`/e/${encodeURIComponent(event.id)}`}>{event.title}</a>
      </h2>
      <p class="when">
        <time datetime={isoTime(starts)}>{eventTime(starts, event.timezone)}</time>
      </p>
      <p class="where">
        {event.venue.name}
        {props.km !== null ? <span class="muted"> · {distance(props.km)}</span> : null}
      </p>
      <p class="tags">
        <span class="badge">{price(event.price, event.currency)}</span>
        {remaining <= 0 ? (
          <span class="badge bad">Sold out</span>
        ) : fewLeft(remaining, event.capacity) ? (
          <span class="badge warn">Only {remaining} left</span>
        ) : null}
      </p>
    </li>
  );
}

function moreLink(cursor: string, near: string | undefined, radiusKm: number | undefined): string {
  const params = new URLSearchParams({ cursor });
  if (near) params.set("near", near);
  if (near && radiusKm !== undefined) params.set("radiusKm", String(radiusKm));
  return `/?${params}`;
}

export async function listingPage(c: AppContext): Promise<Response> {
  const query = c.req.query();
  const deps = eventsDeps(c);
  const now = Date.now();
  const parsed = ListEventsQuery.safeParse({
    limit: PAGE_SIZE,
    cursor: query.cursor || undefined,
    near: query.near || undefined,
    radiusKm: query.radiusKm || undefined,
  });
  let problem: string | null = null;
  let near: string | undefined;
  let radiusKm: number | undefined;
  let cursor: string | undefined;
  if (parsed.success) {
    near = parsed.data.near;
    radiusKm = parsed.data.radiusKm;
    cursor = parsed.data.cursor;
  } else {
    const paths = new Set(parsed.error.issues.map((issue) => String(issue.path[0])));
    problem = paths.has("near") || paths.has("radiusKm") ? NEAR_HELP : "That page of events does not exist.";
  }

  let page: Awaited<ReturnType<typeof listEvents>>;
  try {
    page = await listEvents(deps, { limit: PAGE_SIZE, cursor, near, radiusKm: radiusKm ?? 25 });
  } catch (error) {
    if (!(error instanceof DomainError) || error.code !== "validation-failed") throw error;
    // An out-of-range point or a cursor from elsewhere: say so, and show the plain list.
    problem = near ? NEAR_HELP : "That page of events does not exist.";
    near = undefined;
    page = await listEvents(deps, { limit: PAGE_SIZE, radiusKm: 25 });
  }

  const center = near ? (near.split(",").map(Number) as [number, number]) : null;
  const cards = page.items.map((event) => ({
    event,
    km: center ? distanceKm(center[0], center[1], event.venue.lat, event.venue.lng) : null,
  }));
  if (center) cards.sort((a, b) => (a.km ?? 0) - (b.km ?? 0));
  const taken = await takenSeats(
    deps.db,
    cards.map((card) => card.event.id),
    now,
  );

  return render(c, {
    title: center ? "Events near you" : "Upcoming events",
    description: "Find upcoming events, claim free tickets and buy the rest.",
    status: problem ? 400 : 200,
    publicPage: true,
    scripts: ["/assets/events.js"],
    head: <link rel="stylesheet" href="/assets/attendee.css" />,
    body: (
      <section class="events">
        <h1>{center ? "Events near you" : "Upcoming events"}</h1>
        {problem ? <Alert kind="error">{problem}</Alert> : null}
        <div class="actions">
          {center ? (
            <a class="button secondary" href="/">
              Show all events
            </a>
          ) : (
            <button type="button" id="near-me" class="secondary" hidden>
              Events near me
            </button>
          )}
          <p id="near-status" class="muted small" role="status" />
        </div>
        {center ? <p class="muted">Within {radiusKm ?? 25} km, nearest first.</p> : null}
        {cards.length === 0 ? (
          <p>{center ? "No upcoming events nearby." : "No upcoming events yet. Check back soon."}</p>
        ) : (
          <ul class="grid plain">
            {cards.map((card) => (
              <EventCard
                event={card.event}
                km={card.km}
                remaining={card.event.capacity - (taken.get(card.event.id) ?? 0)}
              />
            ))}
          </ul>
        )}
        {page.nextCursor ? (
          <p class="actions">
            <a class="button secondary" rel="next" href={moreLink(page.nextCursor, near, radiusKm)}>
              More events
            </a>
          </p>
        ) : null}
      </section>
    ),
  });
}
