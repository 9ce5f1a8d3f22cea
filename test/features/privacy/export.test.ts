/**
 * GET /api/v1/me/export: the archive of everything we hold about the person, built after the answer,
 * in R2 under exports/<userId>/, handed over by an emailed signed link valid 7 days; one a day; the cron
 * deletes it when it expires. Sessions only: an API key never reaches it.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import { LIMITS } from "../../../src/config/limits";
import { CARRIES_SECRET } from "../../../src/features/email/templates";
import { expireDataExports } from "../../../src/features/privacy";
import { buildExport } from "../../../src/features/privacy/export";
import worker from "../../../src/index";
import { call, json, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf, rows } from "../../support/db";
import { login } from "../auth/helpers";
import { askExport, exportLink, settled, someone, world } from "./helpers";

const DAY = 24 * 60 * 60 * 1000;

type Archive = Record<string, unknown> & {
  account: { id: string; email: string; name: string; roles: string[]; hasPassword: boolean };
  truncated: string[];
};

/** Runs the five-minute cron (queues/scheduled.ts) at `at`. */
async function cron(at: number): Promise<void> {
  const ctx = createExecutionContext();
  worker.scheduled(createScheduledController({ scheduledTime: at, cron: "*/5 * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function download(path: string): Promise<Response> {
  return call(path);
}

describe("a data export", () => {
  it("holds the person's data, and no one else's, in a JSON file behind the emailed signed link", async () => {
    const w = await world();
    const res = await askExport(w.person.token);
    expect(res.status).toBe(202);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const accepted = await json<{ id: string; status: string }>(res);
    expect(accepted.status).toBe("pending");
    expect(await settled(accepted.id)).toBe("ready");
    const [row] = await rows<{
      user_id: string;
      r2_key: string;
      bytes: number;
      expires_at: number;
      created_at: number;
    }>("SELECT user_id, r2_key, bytes, expires_at, created_at FROM data_exports WHERE id = ?", accepted.id);
    expect(row?.user_id).toBe(w.person.id);
    expect(row?.r2_key).toBe(`exports/${w.person.id}/${accepted.id}.json`);
    expect(row ? row.expires_at - row.created_at : 0).toBe(7 * DAY);
    expect(await env.MEDIA.head(row?.r2_key ?? "")).not.toBeNull();
    // The email carries a live credential (the link): the outbox drops its body once sent.
    expect(CARRIES_SECRET["data-export-ready"]).toBe(true);

    const file = await download(await exportLink(w.person.email));
    expect(file.status).toBe(200);
    expect(file.headers.get("Content-Type")).toBe("application/json; charset=utf-8");
    expect(file.headers.get("Content-Disposition")).toMatch(
      /^attachment; filename="gatehouse-data-\d{4}-\d{2}-\d{2}\.json"$/,
    );
    expect(file.headers.get("Cache-Control")).toBe("private, no-store");
    expect(file.headers.get("X-Content-Type-Options")).toBe("nosniff");
    const text = await file.text();
    expect(text.length).toBe(row?.bytes);
    const archive = JSON.parse(text) as Archive;

    expect(archive.account).toMatchObject({
      id: w.person.id,
      email: w.person.email,
      name: w.person.name,
      roles: ["attendee", "host"],
      hasPassword: true,
    });
    expect(archive.truncated).toEqual([]);
    expect(archive.profile).toMatchObject({ bio: `Bio of ${w.person.name}`, followers: 1, following: 1 });
    expect(archive.handles).toEqual([expect.objectContaining({ state: "active" })]);
    expect(archive.links).toEqual([expect.objectContaining({ title: `Site of ${w.person.name}` })]);
    expect(archive.posts).toEqual([
      expect.objectContaining({ id: w.personPost.id, text: `Hello from ${w.person.name}`, mediaIds: [w.mediaId] }),
    ]);
    expect(archive.comments).toEqual([expect.objectContaining({ postId: w.otherPost.id })]);
    expect(archive.postLikes).toEqual([expect.objectContaining({ postId: w.otherPost.id })]);
    expect(archive.bookmarks).toEqual([expect.objectContaining({ postId: w.otherPost.id })]);
    expect(archive.reposts).toEqual([expect.objectContaining({ postId: w.otherPost.id })]);
    expect(archive.following).toEqual([expect.objectContaining({ userId: w.other.id })]);
    expect(archive.followers).toEqual([expect.objectContaining({ userId: w.other.id })]);
    expect(archive.blocks).toHaveLength(1);
    expect((archive.notifications as unknown[]).length).toBeGreaterThan(0);
    expect(archive.orders).toEqual([
      expect.objectContaining({
        id: w.orderId,
        eventId: w.event.id,
        eventTitle: expect.stringMatching(/^Harbour Night/),
      }),
    ]);
    expect(archive.tickets).toEqual([
      expect.objectContaining({ orderId: w.orderId, eventTitle: expect.stringMatching(/^Harbour Night/) }),
    ]);
    expect(archive.tipsSent).toEqual([
      expect.objectContaining({ id: w.tipId, amount: 500, message: `Keep going! ${w.person.name}` }),
    ]);
    expect(archive.media).toEqual([expect.objectContaining({ id: w.mediaId, contentType: "image/jpeg" })]);
    expect((archive.notes as Record<string, string>).media).toMatch(/signed URL/);
    expect(archive.waitlist).toEqual([expect.objectContaining({ eventId: w.event.id, status: "waiting" })]);
    expect(archive.apiKeys).toEqual([
      expect.objectContaining({ name: "CRM sync", prefix: "gh_live_abcd", scopes: ["events:read"] }),
    ]);
    expect(archive.webhookEndpoints).toEqual([
      expect.objectContaining({ url: "https://hooks.example.com/person", eventTypes: ["order.created"] }),
    ]);
    expect((archive.sessions as unknown[]).length).toBeGreaterThan(0);
    expect(archive.auditLog).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: "privacy.export-request" })]),
    );

    // Never a secret, and never another person's name or address.
    expect(text).not.toMatch(/password_hash|key_hash|whsec_|hash-|scrypt/);
    expect(text).not.toContain(w.other.email);
    expect(text).not.toContain(w.other.name);
    expect(text).not.toContain(w.host.email);
  });

  it("refuses a tampered, foreign or expired link (403), and a link whose export expired is gone", async () => {
    const person = await someone();
    const other = await someone();
    const res = await askExport(person.token);
    const { id } = await json<{ id: string }>(res);
    expect(await settled(id)).toBe("ready");
    const path = await exportLink(person.email);
    const url = new URL(path, "https://gatehouse.test");
    const sig = url.searchParams.get("sig") ?? "";

    const tampered = new URL(url);
    tampered.searchParams.set("sig", `${sig.slice(0, -1)}${sig.endsWith("0") ? "1" : "0"}`);
    const later = new URL(url);
    later.searchParams.set("exp", String(Number(url.searchParams.get("exp")) + 3600));
    // Another person's export id under this signature.
    const otherExport = await json<{ id: string }>(await askExport(other.token));
    expect(await settled(otherExport.id)).toBe("ready");
    const foreign = new URL(url);
    foreign.pathname = `/exports/${otherExport.id}`;
    // A media signature for the same id does not open the export.
    const { signMedia } = await import("../../../src/features/media");
    const { getConfig } = await import("../../../src/config");
    const media = await signMedia(getConfig(env).mediaSigningKeys, id, Number(url.searchParams.get("exp")));
    const asMedia = new URL(url);
    asMedia.searchParams.set("sig", media.sig);
    for (const bad of [tampered, later, foreign, asMedia]) {
      const answer = await download(`${bad.pathname}${bad.search}`);
      expect(answer.status, bad.href).toBe(403);
      expect(codeOf(await problemOf(answer))).toBe("forbidden");
    }
    expect((await download(path)).status).toBe(200);

    // At the expiry the link stops (403); the cron deletes the archive and marks the row at that instant.
    const [row] = await rows<{ r2_key: string; expires_at: number }>(
      "SELECT r2_key, expires_at FROM data_exports WHERE id = ?",
      id,
    );
    const expiresAt = row?.expires_at ?? 0;
    freezeClock(expiresAt);
    expect((await download(path)).status).toBe(403);
    await cron(expiresAt - 1);
    expect(await rows("SELECT status FROM data_exports WHERE id = ?", id)).toEqual([{ status: "ready" }]);
    expect(await env.MEDIA.head(row?.r2_key ?? "")).not.toBeNull();
    await cron(expiresAt);
    expect(await rows("SELECT status, r2_key FROM data_exports WHERE id = ?", id)).toEqual([
      { status: "expired", r2_key: null },
    ]);
    expect(await env.MEDIA.head(row?.r2_key ?? "")).toBeNull();
  });

  it("is granted once a day: refused 1 ms before 24 h with Retry-After, granted at 24 h", async () => {
    const t0 = Date.UTC(2031, 4, 6, 9, 0, 0);
    const clock = freezeClock(t0);
    const person = await someone();
    const first = await askExport(person.token);
    expect(first.status).toBe(202);
    await settled((await json<{ id: string }>(first)).id);

    clock.set(t0 + LIMITS.dataExportIntervalMs - 1);
    // A day later the morning's session is long idle: sign in again.
    const { accessToken } = await login(person.email);
    const early = await askExport(accessToken);
    expect(early.status).toBe(429);
    expect(early.headers.get("Retry-After")).toBe("1");
    const problem = await problemOf(early);
    expect(codeOf(problem)).toBe("rate-limited");
    expect(problem.policy).toBe("data-export");

    clock.set(t0 + LIMITS.dataExportIntervalMs);
    const again = await askExport(accessToken);
    expect(again.status).toBe(202);
    await settled((await json<{ id: string }>(again)).id);
    expect(await rows("SELECT count(*) AS n FROM data_exports WHERE user_id = ?", person.id)).toEqual([{ n: 2 }]);
  });

  it("asked ten times at once, makes exactly one export; a failed one does not count", async () => {
    const person = await someone();
    const answers = await Promise.all(Array.from({ length: 10 }, () => askExport(person.token)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([202, ...Array(9).fill(429)]);
    const [made] = await rows<{ id: string }>("SELECT id FROM data_exports WHERE user_id = ?", person.id);
    await settled(made?.id ?? "");
    expect(await rows("SELECT count(*) AS n FROM data_exports WHERE user_id = ?", person.id)).toEqual([{ n: 1 }]);

    await env.DB.prepare("UPDATE data_exports SET status = 'failed' WHERE user_id = ?").bind(person.id).run();
    expect((await askExport(person.token)).status).toBe(202);
  });

  it("a pending export left by a dead builder is marked failed by the cron after 15 minutes", async () => {
    const person = await someone();
    const t = Date.now();
    await env.DB.prepare(
      "INSERT INTO data_exports (id, user_id, status, created_at, expires_at) VALUES (?, ?, 'pending', ?, ?)",
    )
      .bind(`stale-${person.id}`, person.id, t - LIMITS.dataExportStaleMs, t + DAY)
      .run();
    await expireDataExports(env.DB, env.MEDIA, t);
    expect(await rows("SELECT status FROM data_exports WHERE user_id = ?", person.id)).toEqual([{ status: "failed" }]);
    expect((await askExport(person.token)).status).toBe(202);
  });

  it("an export whose row goes while it is built (the account erased meanwhile) leaves no archive and sends nothing", async () => {
    const person = await someone();
    const id = `race-${person.id}`;
    const t = Date.now();
    await env.DB.prepare(
      "INSERT INTO data_exports (id, user_id, status, created_at, expires_at) VALUES (?, ?, 'pending', ?, ?)",
    )
      .bind(id, person.id, t, t + DAY)
      .run();
    // D1 as the builder sees it: the row is deleted just before its batches run.
    const db = {
      prepare: (sql: string) => env.DB.prepare(sql),
      batch: async (statements: D1PreparedStatement[]) => {
        await env.DB.prepare("DELETE FROM data_exports WHERE id = ?").bind(id).run();
        return env.DB.batch(statements);
      },
    } as unknown as D1Database;
    const meta = { requestId: "race", ip: null, userAgent: null };
    await buildExport(
      {
        db,
        bucket: env.MEDIA,
        config: getConfig(env),
        meta,
        origin: "https://gatehouse.test",
        emailQueue: env.EMAIL_QUEUE,
      },
      person.id,
      id,
    );
    expect(await env.MEDIA.head(`exports/${person.id}/${id}.json`)).toBeNull();
    expect(
      await rows("SELECT 1 FROM dev_mailbox WHERE template = 'data-export-ready' AND \"to\" = ?", person.email),
    ).toEqual([]);
  });

  it("is refused to anyone not signed in, and to an API key (403 insufficient-scope), as erasure is", async () => {
    expect((await call("/api/v1/me/export")).status).toBe(401);
    const host = await someone({ roles: ["attendee", "host"] });
    const created = await call("/api/v1/me/api-keys", {
      method: "POST",
      headers: { Authorization: `Bearer ${host.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "k", scopes: ["events:read"] }),
    });
    expect(created.status).toBe(201);
    const { key } = await json<{ key: string }>(created);
    const refused = await askExport(key);
    expect(refused.status).toBe(403);
    expect(codeOf(await problemOf(refused))).toBe("insufficient-scope");
    expect(await rows("SELECT id FROM data_exports WHERE user_id = ?", host.id)).toEqual([]);
    // Nor can a key erase the account.
    const erase = await call("/api/v1/me", {
      method: "DELETE",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ password: host.password }),
    });
    expect(erase.status).toBe(403);
    expect(codeOf(await problemOf(erase))).toBe("insufficient-scope");
    expect(await rows("SELECT erased_at FROM users WHERE id = ?", host.id)).toEqual([{ erased_at: null }]);
  });
});
