/**
 * Development demo data, idempotent: a host, an attendee, one free and one paid upcoming event.
 * Fixed ids and emails make a second run a no-op; the events' inventories are configured through
 * the same path the API uses. Never reachable in production (the /dev routes answer 404 there).
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { hashPassword } from "../../lib/password";
import { sealedEmail, sealName } from "../auth";
import { type EventRow, findEvent, inventoryOf, toSnapshot, unwrap } from "../events";

export const DEMO_ACCOUNTS = [
  { id: "demo-host", role: "host", email: "host@gatehouse.local", password: "gatehouse-host-demo", name: "Demo Host" },
  {
    id: "demo-attendee",
    role: "attendee",
    email: "attendee@gatehouse.local",
    password: "gatehouse-attendee-demo",
    name: "Demo Attendee",
  },
] as const;

const DAY = 24 * 3600 * 1000;

function demoEvent(id: string, kind: "free" | "paid", now: number): EventRow {
  const start = Math.ceil((now + 30 * DAY) / DAY) * DAY + 18 * 3600 * 1000;
  const paid = kind === "paid";
  return {
    id,
    host_id: "demo-host",
    title: paid ? "Gatehouse Conf 2027" : "Gatehouse Launch Party",
    description: paid
      ? "<p>A day of talks on running events at the edge.</p>"
      : "<p>Free drinks, live music, and <b>no queue at the door</b>.</p>",
    starts_at: start,
    ends_at: start + 4 * 3600 * 1000,
    timezone: "Europe/Amsterdam",
    venue_name: paid ? "Beurs van Berlage" : "De Kade",
    venue_address: paid ? "Damrak 243, Amsterdam" : "Kade 1, Amsterdam",
    lat: paid ? 52.3745 : 52.3702,
    lng: paid ? 4.8963 : 4.8952,
    capacity: paid ? 300 : 120,
    price: paid ? 4900 : 0,
    currency: "EUR",
    per_user_limit: paid ? 10 : 1,
    sales_start_at: null,
    sales_end_at: null,
    check_in_opens_at: start - 2 * 3600 * 1000,
    check_in_closes_at: start + 4 * 3600 * 1000,
    cover_media_id: null,
    status: "published",
    version: 1,
    created_at: now,
    updated_at: now,
    published_at: now,
    cancelled_at: null,
    queue_mode: "off",
    queue_admit_per_second: LIMITS.queueAdmitPerSecondDefault,
    contacts_purged_at: null,
  };
}

export async function seedDemo(env: Env, config: Config, now = Date.now()) {
  const statements: D1PreparedStatement[] = [];
  for (const account of DEMO_ACCOUNTS) {
    const roles = account.role === "host" ? '["attendee","host"]' : '["attendee"]';
    const stored = sealedEmail(config.pii, account.email);
    statements.push(
      env.DB.prepare(
        `INSERT INTO users (id, email, email_index, name, password_hash, email_verified_at, roles, session_epoch, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`,
      ).bind(
        account.id,
        stored.email,
        stored.emailIndex,
        sealName(config.pii, account.name),
        await hashPassword(account.password, config.passwordScrypt),
        now,
        roles,
        now,
        now,
      ),
    );
  }
  const events = [demoEvent("demo-free-event", "free", now), demoEvent("demo-paid-event", "paid", now)];
  // Columns named once, values looked up by name: reordering EventRow cannot shift values.
  const columns = [
    "id",
    "host_id",
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "venue_name",
    "venue_address",
    "lat",
    "lng",
    "capacity",
    "price",
    "currency",
    "per_user_limit",
    "sales_start_at",
    "sales_end_at",
    "check_in_opens_at",
    "check_in_closes_at",
    "cover_media_id",
    "status",
    "version",
    "created_at",
    "updated_at",
    "published_at",
    "cancelled_at",
  ] as const satisfies readonly (keyof EventRow)[];
  for (const e of events) {
    statements.push(
      env.DB.prepare(
        `INSERT INTO events (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON CONFLICT (id) DO NOTHING`,
      ).bind(...columns.map((column) => e[column])),
    );
  }
  await env.DB.batch(statements);
  for (const e of events) {
    const stored = (await findEvent(env.DB, e.id)) ?? e;
    unwrap(await inventoryOf(env.EVENT_INVENTORY, e.id).configure(toSnapshot(stored)));
  }
  return {
    accounts: DEMO_ACCOUNTS.map(({ role, email, password }) => ({ role, email, password })),
    events: events.map((e) => ({ id: e.id, title: e.title, kind: e.price > 0 ? "paid" : "free" })),
  };
}
