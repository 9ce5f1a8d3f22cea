import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { hashPassword } from "../../../src/lib/password";
import { freshIp, problemOf } from "../../helpers";
import { deadLettersFor, insertOutbox, outboxIdOf, outboxRow, QueueHarness } from "../../queues/email-harness";

afterEach(() => vi.restoreAllMocks());

const PASSWORD = "violet-otter-marmalade";

/** A user with `roles`, signed in through the real login route; returns an access token. */
async function signedIn(roles: string[]): Promise<string> {
  const email = `${roles.join("-")}-${crypto.randomUUID()}@example.com`;
  const now = Date.now();
  await env.DB.prepare(
    "INSERT INTO users (id, email, name, password_hash, email_verified_at, roles, session_epoch, created_at, updated_at) VALUES (?, ?, 'Op', ?, ?, ?, 0, ?, ?)",
  )
    .bind(
      crypto.randomUUID(),
      email,
      await hashPassword(PASSWORD, { logN: 10, r: 8, p: 1 }),
      now,
      JSON.stringify(roles),
      now,
      now,
    )
    .run();
  const res = await request(env, "/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

/** Through the full app, over `bindings` (a fake EMAIL_QUEUE where the test watches the queue). */
async function request(bindings: Env, path: string, init: RequestInit = {}, token?: string): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", freshIp());
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return createApp().request(`https://gatehouse.test${path}`, { ...init, headers }, bindings);
}

/**
 * A dead-lettered email and its dead letter, as delivery leaves them. By default an email without a
 * secret (its body kept); `secret` makes it one whose body went when it was dead-lettered.
 */
async function deadLetteredEmail(
  reason = "permanent: resend 422 validation_error: Invalid `to` field.",
  { template = "order-confirmed", secret = false } = {},
) {
  const id = await insertOutbox({
    status: "dead_letter",
    attempts: 1,
    lastError: reason,
    template,
    carriesSecret: secret,
  });
  const deadLetterId = crypto.randomUUID();
  await env.DB.prepare(
    "INSERT INTO dead_letters (id, source, ref_id, reason, payload, created_at) VALUES (?, 'email', ?, ?, ?, ?)",
  )
    .bind(deadLetterId, id, reason, JSON.stringify({ template, attempts: 1 }), Date.now())
    .run();
  return { outboxId: id, deadLetterId };
}

let admin: string;
let attendee: string;
beforeAll(async () => {
  admin = await signedIn(["attendee", "admin"]);
  attendee = await signedIn(["attendee", "host"]);
});

describe("GET /api/v1/admin/dead-letters", () => {
  it("lists dead letters newest first with their reason and payload, in cursor pages", async () => {
    const made: { outboxId: string; deadLetterId: string }[] = [];
    for (let i = 0; i < 3; i++) made.push(await deadLetteredEmail(`reason ${i}`));
    const first = await request(env, "/api/v1/admin/dead-letters?limit=2&source=email&state=open", {}, admin);
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as { items: { id: string; reason: string }[]; nextCursor: string | null };
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const all: { id: string; refId: string; reason: string; payload: unknown; replayedAt: string | null }[] = [];
    let cursor: string | null = null;
    do {
      const res = await request(
        env,
        `/api/v1/admin/dead-letters?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        {},
        admin,
      );
      const page = (await res.json()) as { items: typeof all; nextCursor: string | null };
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    const mine = all.filter((d) => made.some((m) => m.deadLetterId === d.id));
    expect(mine.map((d) => d.reason)).toEqual(["reason 2", "reason 1", "reason 0"]);
    expect(mine[0]).toMatchObject({
      source: "email",
      refId: made[2]?.outboxId,
      payload: { template: "order-confirmed", attempts: 1 },
      replayedAt: null,
    });
  });

  it("is for admins only: 401 anonymous, 403 for a signed-in non-admin", async () => {
    const anonymous = await request(env, "/api/v1/admin/dead-letters");
    expect(anonymous.status).toBe(401);
    const forbidden = await request(env, "/api/v1/admin/dead-letters", {}, attendee);
    expect(forbidden.status).toBe(403);
    expect((await problemOf(forbidden)).type).toBe("https://gatehouse.events/problems/forbidden");
    const replay = await request(env, `/api/v1/admin/dead-letters/x/replay`, { method: "POST" }, attendee);
    expect(replay.status).toBe(403);
  });

  it("is documented in the OpenAPI document, with the admin bearer scheme", async () => {
    const doc = (await (await request(env, "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    };
    expect(doc.paths["/api/v1/admin/dead-letters"]?.get?.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(doc.paths["/api/v1/admin/dead-letters/{id}/replay"]?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(["202", "403", "404", "409"]),
    );
  });

  it("issues URL-safe cursors: one pasted unencoded into the next query string still reads back", async () => {
    // Ids chosen so the cursor of the first page ([createdAt, id] as JSON) holds a byte whose
    // standard base64 is `+`: a query string reads that back as a space.
    const at = 4_102_444_800_000;
    const insert = env.DB.prepare(
      "INSERT INTO dead_letters (id, source, ref_id, reason, payload, created_at) VALUES (?, 'stripe-webhook', ?, 'r', '{}', ?)",
    );
    await env.DB.batch([insert.bind("dl>>>", "evt_cursor_a", at + 1), insert.bind("dl-older", "evt_cursor_b", at)]);
    const first = await request(env, "/api/v1/admin/dead-letters?limit=1&source=stripe-webhook", {}, admin);
    const page1 = (await first.json()) as { items: { id: string }[]; nextCursor: string };
    expect(page1.items.map((d) => d.id)).toEqual(["dl>>>"]);
    expect(page1.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = await request(
      env,
      `/api/v1/admin/dead-letters?limit=1&source=stripe-webhook&cursor=${page1.nextCursor}`,
      {},
      admin,
    );
    expect(second.status).toBe(200);
    const page2 = (await second.json()) as { items: { id: string; refId: string }[] };
    expect(page2.items.map((d) => [d.id, d.refId])).toEqual([["dl-older", "evt_cursor_b"]]);
  });

  it("rejects a cursor it did not issue", async () => {
    const res = await request(env, "/api/v1/admin/dead-letters?cursor=bm9wZQ", {}, admin);
    expect(res.status).toBe(400);
    expect((await problemOf(res)).type).toMatch(/validation-failed$/);
  });
});

describe("POST /api/v1/admin/dead-letters/:id/replay", () => {
  it("re-queues the email with fresh attempts, marks the dead letter replayed, audits it, and the email then goes out", async () => {
    const { outboxId, deadLetterId } = await deadLetteredEmail();
    const harness = new QueueHarness();
    const res = await request(
      harness.env,
      `/api/v1/admin/dead-letters/${deadLetterId}/replay`,
      { method: "POST" },
      admin,
    );
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; replayedAt: string | null };
    expect(body.id).toBe(deadLetterId);
    expect(body.replayedAt).toEqual(expect.any(String));
    expect(harness.produced.map((p) => outboxIdOf(p.body))).toEqual([outboxId]);
    expect(await outboxRow(outboxId)).toMatchObject({ status: "queued", attempts: 0, last_error: null });
    expect((await deadLettersFor(outboxId))[0]?.replayed_at).toEqual(expect.any(Number));
    const audit = await env.DB.prepare(
      "SELECT outcome, detail FROM audit_log WHERE action = 'admin.dead-letter-replay' AND detail LIKE ?",
    )
      .bind(`%${deadLetterId}%`)
      .all();
    expect(audit.results).toHaveLength(1);

    await harness.drain();
    expect(await outboxRow(outboxId)).toMatchObject({ status: "sent", attempts: 1 });
  });

  it("answers 404 for an unknown id and 409 for a second replay", async () => {
    const missing = await request(env, "/api/v1/admin/dead-letters/nope/replay", { method: "POST" }, admin);
    expect(missing.status).toBe(404);
    expect((await problemOf(missing)).type).toMatch(/not-found$/);

    const { deadLetterId } = await deadLetteredEmail();
    const harness = new QueueHarness();
    const path = `/api/v1/admin/dead-letters/${deadLetterId}/replay`;
    expect((await request(harness.env, path, { method: "POST" }, admin)).status).toBe(202);
    const again = await request(harness.env, path, { method: "POST" }, admin);
    expect(again.status).toBe(409);
    expect((await problemOf(again)).type).toBe("https://gatehouse.events/problems/already-replayed");
    expect(harness.produced).toHaveLength(1);
  });

  it("an email that carried a secret is refused with not-replayable: nothing re-sent or re-issued, the dead letter stays open", async () => {
    const { outboxId, deadLetterId } = await deadLetteredEmail("permanent: resend 422 validation_error: x", {
      template: "reset-password",
      secret: true,
    });
    const harness = new QueueHarness();
    const res = await request(
      harness.env,
      `/api/v1/admin/dead-letters/${deadLetterId}/replay`,
      { method: "POST" },
      admin,
    );
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(problem.type).toBe("https://gatehouse.events/problems/not-replayable");
    expect(problem.detail).toMatch(/one-time secret .* requests a new one/);
    expect(problem.template).toBe("reset-password");
    expect(harness.produced).toEqual([]);
    expect(await outboxRow(outboxId)).toMatchObject({ status: "dead_letter", attempts: 1 });
    expect((await deadLettersFor(outboxId))[0]?.replayed_at).toBeNull();
    const audit = await env.DB.prepare(
      "SELECT 1 FROM audit_log WHERE action = 'admin.dead-letter-replay' AND detail LIKE ?",
    )
      .bind(`%${deadLetterId}%`)
      .all();
    expect(audit.results).toEqual([]);
  });

  it("an email whose outbox row was purged after retention is refused with not-replayable and stays open", async () => {
    const { outboxId, deadLetterId } = await deadLetteredEmail();
    await env.DB.prepare("DELETE FROM email_outbox WHERE id = ?").bind(outboxId).run();
    const harness = new QueueHarness();
    const res = await request(
      harness.env,
      `/api/v1/admin/dead-letters/${deadLetterId}/replay`,
      { method: "POST" },
      admin,
    );
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(problem.type).toBe("https://gatehouse.events/problems/not-replayable");
    expect(problem.detail).toMatch(/retention/);
    expect(harness.produced).toEqual([]);
    expect((await deadLettersFor(outboxId))[0]?.replayed_at).toBeNull();
  });

  it("a source without a replayer answers 501 and stays open", async () => {
    const id = crypto.randomUUID();
    // (stripe-webhook has its replayer now: test/features/payments/retries.test.ts)
    await env.DB.prepare(
      "INSERT INTO dead_letters (id, source, ref_id, reason, payload, created_at) VALUES (?, 'retired-source', ?, 'x', '{}', ?)",
    )
      .bind(id, `evt_${id}`, Date.now())
      .run();
    const res = await request(env, `/api/v1/admin/dead-letters/${id}/replay`, { method: "POST" }, admin);
    expect(res.status).toBe(501);
    const row = await env.DB.prepare("SELECT replayed_at FROM dead_letters WHERE id = ?").bind(id).first();
    expect(row?.replayed_at).toBeNull();
  });

  it("five admins replaying the same dead letter at once re-queue it once", async () => {
    const { outboxId, deadLetterId } = await deadLetteredEmail();
    const harness = new QueueHarness();
    const path = `/api/v1/admin/dead-letters/${deadLetterId}/replay`;
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () => request(harness.env, path, { method: "POST" }, admin).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(4);
    expect(harness.produced.map((p) => outboxIdOf(p.body))).toEqual([outboxId]);
  });
});
