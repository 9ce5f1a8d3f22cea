/**
 * Fixtures for the data-rights tests: a person with something of every kind we keep (made through the
 * API where a route exists, directly where a fixture may skip it), a second person whose data must stay
 * out of the first one's archive and survive their erasure, and readers for the emailed export link.
 */
import { env } from "cloudflare:workers";
import { getConfig } from "../../../src/config";
import { TIP_GUEST_EMAIL, TIP_MESSAGE } from "../../../src/features/money";
import { WEBHOOK_SECRET_CONTEXT } from "../../../src/features/webhooks";
import { call, freshIp } from "../../helpers";
import { rows } from "../../support/db";
import { givePayoutAccount } from "../../support/payouts";
import { bearer, createUser, login, mailOf, uniqueEmail } from "../auth/helpers";
import { createEvent, hostWithToken, order } from "../events/helpers";
import { createComment, createPost, mediaFor, react, send } from "../social/posts-helpers";

export interface Someone {
  id: string;
  email: string;
  name: string;
  password: string;
  token: string;
}

/** A verified user with a unique name, signed in by password (a real session row). */
export async function someone(options: { password?: boolean; roles?: string[] } = {}): Promise<Someone> {
  const name = `Person ${crypto.randomUUID().slice(0, 8)}`;
  const user = await createUser({ name, email: uniqueEmail("privacy"), roles: options.roles ?? ["attendee"] });
  const { accessToken } = await login(user.email);
  if (options.password === false) {
    await env.DB.prepare("UPDATE users SET password_hash = NULL WHERE id = ?").bind(user.id).run();
  }
  return { ...user, name, token: accessToken };
}

async function insert(sql: string, ...bindings: unknown[]): Promise<void> {
  await env.DB.prepare(sql)
    .bind(...bindings)
    .run();
}

export interface World {
  person: Someone;
  other: Someone;
  host: Awaited<ReturnType<typeof hostWithToken>>;
  event: { id: string };
  otherPost: { id: string };
  personPost: { id: string };
  orderId: string;
  mediaId: string;
  tipId: string;
}

/**
 * `person` with a post (and an image), a comment, likes, a bookmark, a repost, a follow each way, a
 * block, a notification, a handle, a link, a free ticket (a host's order), a tip sent with a message,
 * a waitlist entry, an API key and a webhook endpoint; `other` with a post of their own.
 */
export async function world(): Promise<World> {
  const person = await someone({ roles: ["attendee", "host"] });
  const other = await someone();
  const host = await hostWithToken();
  const event = await createEvent(host.token, { title: `Harbour Night ${person.id.slice(0, 6)}` });
  const now = Date.now();

  const mediaId = await mediaFor(person.id);
  await env.MEDIA.put(`media/${mediaId}`, new Uint8Array([1, 2, 3]));
  const personPost = await createPost(person.token, { text: `Hello from ${person.name}`, mediaIds: [mediaId] });
  const otherPost = await createPost(other.token, { text: `Other news by ${other.name}` });
  await createComment(person.token, otherPost.id, { text: `Nice one, says ${person.name}` });
  await createComment(other.token, personPost.id, { text: "A reply on the person's post" });
  for (const what of ["like", "bookmark", "repost"]) await react("PUT", otherPost.id, what, person.token);
  await react("PUT", personPost.id, "like", other.token);
  for (const [who, whom] of [
    [person, other],
    [other, person],
  ] as const) {
    const res = await send("PUT", `/api/v1/users/${whom.id}/follow`, who.token);
    if (res.status !== 200) throw new Error(`follow: ${res.status} ${await res.text()}`);
  }
  const blocked = await createUser();
  await insert("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)", person.id, blocked.id, now);

  const handle = `p${person.id.replace(/-/g, "").slice(0, 10)}`;
  await insert(
    "INSERT INTO handles (handle_key, user_id, state, retired_until, created_at) VALUES (?, ?, 'active', NULL, ?)",
    handle,
    person.id,
    now,
  );
  await insert(
    "UPDATE profiles SET handle = ?, handle_key = ?, bio = ? WHERE user_id = ?",
    handle,
    handle,
    `Bio of ${person.name}`,
    person.id,
  );
  await insert(
    `INSERT INTO links (id, user_id, title, url, kind, state, position, version, created_at, updated_at)
     VALUES (?, ?, ?, 'https://example.com/person', 'link', 'active', 0, 1, ?, ?)`,
    crypto.randomUUID(),
    person.id,
    `Site of ${person.name}`,
    now,
    now,
  );

  const claimed = await order(event.id, person.token, 1, { "Idempotency-Key": crypto.randomUUID() });
  if (claimed.status !== 201) throw new Error(`order: ${claimed.status} ${await claimed.text()}`);
  const orderId = ((await claimed.json()) as { order: { id: string } }).order.id;
  // The order reaches D1 through the event's outbox push: wait for the read model.
  for (let i = 0; i < 200 && (await rows("SELECT 1 FROM tickets WHERE order_id = ?", orderId)).length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }

  const creator = await createUser();
  const account = await givePayoutAccount(creator.id);
  const tipId = crypto.randomUUID();
  await insert(
    `INSERT INTO tips (id, recipient_id, sender_id, guest_email, amount, currency, message, status, fee_amount,
       stripe_account_id, refunded_amount, idempotency_key, created_at, updated_at)
     VALUES (?, ?, ?, NULL, 500, 'USD', ?, 'pending', 0, ?, 0, ?, ?, ?)`,
    tipId,
    creator.id,
    person.id,
    getConfig(env).pii.seal(`Keep going! ${person.name}`, TIP_MESSAGE),
    account,
    crypto.randomUUID(),
    now,
    now,
  );
  // A tip they made earlier as a guest, with their address (sealed, as tips store it), still pending.
  await insert(
    `INSERT INTO tips (id, recipient_id, sender_id, guest_email, amount, currency, message, status, fee_amount,
       stripe_account_id, refunded_amount, idempotency_key, created_at, updated_at)
     VALUES (?, ?, NULL, ?, 300, 'USD', NULL, 'pending', 0, ?, 0, ?, ?, ?)`,
    `guest-${tipId}`,
    creator.id,
    getConfig(env).pii.seal(person.email, TIP_GUEST_EMAIL),
    account,
    crypto.randomUUID(),
    now,
    now,
  );
  await insert(
    `INSERT INTO waitlist_entries (event_id, user_id, position, status, seq, created_at, updated_at)
     VALUES (?, ?, 1, 'waiting', 1, ?, ?)`,
    event.id,
    person.id,
    now,
    now,
  );
  await insert(
    `INSERT INTO api_keys (id, host_id, name, prefix, key_hash, scopes, created_at)
     VALUES (?, ?, 'CRM sync', 'gh_live_abcd', ?, '["events:read"]', ?)`,
    crypto.randomUUID(),
    person.id,
    `hash-${crypto.randomUUID()}`,
    now,
  );
  await insert(
    `INSERT INTO webhook_endpoints (id, host_id, url, description, event_types, secret, enabled, created_at, updated_at)
     VALUES (?, ?, 'https://hooks.example.com/person', NULL, '["order.created"]', ?, 1, ?, ?)`,
    crypto.randomUUID(),
    person.id,
    // Sealed, as every endpoint's secret is stored (a plain one would be the PII job's to seal).
    getConfig(env).pii.seal(`whsec_${btoa(crypto.randomUUID())}`, WEBHOOK_SECRET_CONTEXT),
    now,
    now,
  );
  return { person, other, host, event, otherPost, personPost, orderId, mediaId, tipId };
}

/** GET /api/v1/me/export as `token`. */
export function askExport(token: string, headers: Record<string, string> = {}) {
  return call("/api/v1/me/export", { headers: { ...bearer(token), ...headers }, ip: freshIp() });
}

/** Waits until export `id` leaves `pending` (it is built after the answer) and returns its status. */
export async function settled(id: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const [row] = await rows<{ status: string }>("SELECT status FROM data_exports WHERE id = ?", id);
    if (row && row.status !== "pending") return row.status;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`export ${id} still pending`);
}

/** The path and query of the signed link in the newest data-export-ready email to `email`. */
export async function exportLink(email: string): Promise<string> {
  const link = (await mailOf(email, "data-export-ready")).text.match(/https?:\/\/\S+/)?.[0];
  if (!link) throw new Error(`no export link mailed to ${email}`);
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}
