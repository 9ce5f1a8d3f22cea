/**
 * Moderation: reporting a post, comment or user (201, or the open report again for a duplicate, one
 * row however many arrive at once), the admin queue, and resolving: `remove` hides the content
 * everywhere, resolves every open report on it, tells the author and is audited; admins only.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeCursor } from "../../../src/lib/crypto";
import { codeOf, codeOfResponse, countRows, rows } from "../../support/db";
import { adminToken } from "../payments/helpers";
import { createComment, createPost, type Person, people, send } from "./posts-helpers";

interface ApiReport {
  id: string;
  subjectKind: string;
  subjectId: string;
  reason: string;
  status: string;
  createdAt: string;
  resolvedAt: string | null;
  reporterId?: string;
  resolvedBy?: string | null;
  subject?: { authorId: string | null; text: string | null; removedAt: string | null };
}

const report = (who: Person, payload: Record<string, unknown>) => send("POST", "/api/v1/reports", who.token, payload);

async function reported(who: Person, payload: Record<string, unknown>): Promise<ApiReport> {
  const res = await report(who, payload);
  expect(res.status).toBe(201);
  return (await res.json()) as ApiReport;
}

const resolve = (token: string, id: string, action: string) =>
  send("POST", `/api/v1/admin/reports/${id}/resolve`, token, { action });

async function queue(token: string, query = ""): Promise<ApiReport[]> {
  const items: ApiReport[] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? "&" : "?";
    const res = await send("GET", `/api/v1/admin/reports${query}${cursor ? `${sep}cursor=${cursor}` : ""}`, token);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: ApiReport[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

describe("POST /api/v1/reports", () => {
  it("files a report (201); the same reporter again on the open subject gets that report (200), once under concurrency", async () => {
    const [author, reporter, other] = await people(3);
    const post = await createPost(author!.token, { text: "buy followers now" });
    const first = await reported(reporter!, { subjectKind: "post", subjectId: post.id, reason: "  Spam\u0000 " });
    expect(first).toMatchObject({ subjectKind: "post", subjectId: post.id, reason: "Spam", status: "open" });

    const again = await report(reporter!, { subjectKind: "post", subjectId: post.id, reason: "still spam" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as ApiReport).id).toBe(first.id);

    const [racer] = await people(1);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        report(racer!, { subjectKind: "user", subjectId: author!.id, reason: "spammer" }),
      ),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(await countRows("reports", "reporter_id = ? AND subject_user_id = ?", racer!.id, author!.id)).toBe(1);

    // Someone else reporting the same post is a report of their own.
    expect((await reported(other!, { subjectKind: "post", subjectId: post.id, reason: "spam" })).id).not.toBe(first.id);
  });

  it("refuses what cannot be reported, storing nothing", async () => {
    const [author, reporter] = await people(2);
    const post = await createPost(author!.token);
    await env.DB.prepare("UPDATE posts SET removed_at = 1 WHERE id = ?").bind(post.id).run();
    for (const [payload, status, code] of [
      [{ subjectKind: "post", subjectId: post.id, reason: "x" }, 404, "not-found"],
      [{ subjectKind: "comment", subjectId: "nope", reason: "x" }, 404, "not-found"],
      [{ subjectKind: "user", subjectId: "nope", reason: "x" }, 404, "not-found"],
      [{ subjectKind: "user", subjectId: reporter!.id, reason: "me" }, 400, "validation-failed"],
      [{ subjectKind: "event", subjectId: post.id, reason: "x" }, 400, "validation-failed"],
      [{ subjectKind: "user", subjectId: author!.id, reason: " \n " }, 400, "validation-failed"],
      [{ subjectKind: "user", subjectId: author!.id, reason: "x".repeat(501) }, 400, "validation-failed"],
    ] as const) {
      const res = await report(reporter!, payload);
      expect(res.status, JSON.stringify(payload)).toBe(status);
      expect(await codeOfResponse(res)).toBe(code);
    }
    expect(await countRows("reports", "reporter_id = ?", reporter!.id)).toBe(0);
    // The reason's limit is on characters after normalisation: 500 is fine.
    await reported(reporter!, { subjectKind: "user", subjectId: author!.id, reason: "é".repeat(500) });
  });

  it("is limited per user by the `reports` policy (10 an hour)", async () => {
    const [reporter, ...targets] = await people(12);
    for (const target of targets.slice(0, 10)) {
      await reported(reporter!, { subjectKind: "user", subjectId: target.id, reason: "x" });
    }
    const over = await report(reporter!, { subjectKind: "user", subjectId: targets[10]!.id, reason: "x" });
    expect(over.status).toBe(429);
    expect(await codeOfResponse(over)).toBe("rate-limited");
    expect(await countRows("reports", "reporter_id = ?", reporter!.id)).toBe(10);
  });

  it("is for signed-in users", async () => {
    expect(
      (await send("POST", "/api/v1/reports", null, { subjectKind: "user", subjectId: "x", reason: "x" })).status,
    ).toBe(401);
  });
});

describe("the admin queue", () => {
  it("remove: hides the post everywhere, resolves every open report on it, tells the author, audits", async () => {
    const admin = await adminToken();
    const [author, a, b, fan] = await people(4);
    const post = await createPost(author!.token, { text: "something awful" });
    const ra = await reported(a!, { subjectKind: "post", subjectId: post.id, reason: "awful" });
    const rb = await reported(b!, { subjectKind: "post", subjectId: post.id, reason: "also awful" });
    expect((await send("PUT", `/api/v1/posts/${post.id}/like`, fan!.token)).status).toBe(200);

    const open = (await queue(admin)).filter((r) => r.subjectId === post.id);
    expect(open.map((r) => r.id)).toEqual([ra.id, rb.id]);
    expect(open[0]).toMatchObject({
      reporterId: a!.id,
      subject: { authorId: author!.id, text: "something awful", removedAt: null },
    });

    const res = await resolve(admin, ra.id, "remove");
    expect(res.status).toBe(200);
    const resolved = (await res.json()) as ApiReport;
    expect(resolved.status).toBe("removed");
    expect(resolved.subject?.removedAt).not.toBeNull();

    expect((await send("GET", `/api/v1/posts/${post.id}`, fan!.token)).status).toBe(404);
    expect((await send("GET", `/api/v1/posts/${post.id}`, null)).status).toBe(404);
    expect(await rows("SELECT status FROM reports WHERE post_id = ? ORDER BY created_at, id", post.id)).toEqual([
      { status: "removed" },
      { status: "removed" },
    ]);
    expect((await queue(admin)).filter((r) => r.subjectId === post.id)).toEqual([]);
    expect((await queue(admin, "?status=removed")).map((r) => r.id)).toEqual(expect.arrayContaining([ra.id, rb.id]));
    expect(await rows("SELECT posts_count FROM profiles WHERE user_id = ?", author!.id)).toEqual([{ posts_count: 0 }]);

    const notices = await send("GET", "/api/v1/me/notifications", author!.token);
    const items = ((await notices.json()) as { items: { kind: string; summary: string; subject: unknown }[] }).items;
    expect(items).toEqual([
      expect.objectContaining({
        kind: "removed",
        summary: "Your post was removed after a report",
        subject: { postId: post.id },
      }),
    ]);
    const audit = await rows<{ action: string; detail: string }>(
      "SELECT action, detail FROM audit_log WHERE action = 'moderation.report-resolve' AND detail LIKE ?",
      `%${ra.id}%`,
    );
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ action: "remove", subjectKind: "post", subjectId: post.id });

    // A retried click answers the same; the other action is a conflict.
    expect((await resolve(admin, ra.id, "remove")).status).toBe(200);
    const other = await resolve(admin, rb.id, "dismiss");
    expect(other.status).toBe(409);
    expect(await codeOfResponse(other)).toBe("invalid-transition");
    expect(await countRows("audit_log", "action = 'moderation.report-resolve' AND detail LIKE ?", `%${post.id}%`)).toBe(
      1,
    );
  });

  it("remove of a comment hides it and tells its author; dismiss changes nothing but the reports", async () => {
    const admin = await adminToken();
    const [author, commenter, reporter] = await people(3);
    const post = await createPost(author!.token);
    const comment = await createComment(commenter!.token, post.id, { text: "rude" });
    const kept = await reported(reporter!, { subjectKind: "post", subjectId: post.id, reason: "meh" });
    const rc = await reported(reporter!, { subjectKind: "comment", subjectId: comment.id, reason: "rude" });

    expect((await resolve(admin, kept.id, "dismiss")).status).toBe(200);
    expect(await rows("SELECT removed_at FROM posts WHERE id = ?", post.id)).toEqual([{ removed_at: null }]);
    expect((await send("GET", `/api/v1/posts/${post.id}`, null)).status).toBe(200);

    expect((await resolve(admin, rc.id, "remove")).status).toBe(200);
    const listed = await send("GET", `/api/v1/posts/${post.id}/comments`, null);
    expect(((await listed.json()) as { items: { id: string }[] }).items).toEqual([]);
    expect(await rows("SELECT comment_count FROM posts WHERE id = ?", post.id)).toEqual([{ comment_count: 0 }]);
    const notices = await send("GET", "/api/v1/me/notifications", commenter!.token);
    expect(((await notices.json()) as { items: unknown[] }).items).toEqual([
      expect.objectContaining({
        kind: "removed",
        summary: "Your comment was removed after a report",
        subject: { postId: post.id, commentId: comment.id },
      }),
    ]);
  });

  it("remove of a user hides all their posts and comments and resolves the reports on them", async () => {
    const admin = await adminToken();
    const [troll, host, reporter, follower] = await people(4);
    const posts = [await createPost(troll!.token), await createPost(troll!.token), await createPost(troll!.token)];
    await env.DB.prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)")
      .bind(follower!.id, troll!.id, Date.now())
      .run();
    const feedVersion = async (userId: string) =>
      (await rows<{ v: number }>("SELECT feed_version AS v FROM profiles WHERE user_id = ?", userId))[0]?.v ?? -1;
    const followerFeed = await feedVersion(follower!.id);
    const trollFeed = await feedVersion(troll!.id);
    const hostPost = await createPost(host!.token);
    const comment = await createComment(troll!.token, hostPost.id);
    const onPost = await reported(reporter!, { subjectKind: "post", subjectId: posts[0]!.id, reason: "x" });
    const onUser = await reported(reporter!, { subjectKind: "user", subjectId: troll!.id, reason: "troll" });

    expect((await resolve(admin, onUser.id, "remove")).status).toBe(200);
    for (const post of posts) expect((await send("GET", `/api/v1/posts/${post.id}`, null)).status).toBe(404);
    // The follower's feed moves once for the whole removal, not once per post (the author's per post).
    expect(await feedVersion(follower!.id)).toBe(followerFeed + 1);
    expect(await feedVersion(troll!.id)).toBe(trollFeed + posts.length);
    expect(await rows("SELECT removed_at IS NOT NULL AS gone FROM comments WHERE id = ?", comment.id)).toEqual([
      { gone: 1 },
    ]);
    expect((await send("GET", `/api/v1/posts/${hostPost.id}`, null)).status).toBe(200);
    expect(
      await rows("SELECT status FROM reports WHERE id IN (?, ?) ORDER BY created_at", onPost.id, onUser.id),
    ).toEqual([{ status: "removed" }, { status: "removed" }]);
    // The account stays.
    expect(await countRows("users", "id = ?", troll!.id)).toBe(1);
    const notices = await send("GET", "/api/v1/me/notifications", troll!.token);
    expect(((await notices.json()) as { items: { summary: string }[] }).items.map((i) => i.summary)).toEqual([
      "Your posts and comments were removed after a report",
    ]);
  });

  it("pages the queue oldest first with a cursor: every report once, none twice, at most `limit` a page", async () => {
    const admin = await adminToken();
    const [author, reporter] = await people(2);
    const filed: string[] = [];
    for (let i = 0; i < 5; i++) {
      const post = await createPost(author!.token);
      filed.push((await reported(reporter!, { subjectKind: "post", subjectId: post.id, reason: `r${i}` })).id);
    }
    const pages: ApiReport[][] = [];
    let cursor: string | null = null;
    do {
      const res = await send(
        "GET",
        `/api/v1/admin/reports?status=all&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        admin,
      );
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: ApiReport[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      pages.push(page.items);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 50);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    const seen = pages.flat().map((r) => r.id);
    expect(new Set(seen).size).toBe(seen.length);
    // Oldest first; reports filed in the same millisecond come in id order.
    const oldestFirst = await rows<{ id: string }>(
      `SELECT id FROM reports WHERE id IN (${filed.map(() => "?").join(", ")}) ORDER BY created_at, id`,
      ...filed,
    );
    expect(oldestFirst).toHaveLength(5);
    expect(seen.filter((id) => filed.includes(id))).toEqual(oldestFirst.map((r) => r.id));
  });

  it("refuses a cursor it did not hand out (400 validation-failed on `cursor`)", async () => {
    const admin = await adminToken();
    const forged = [
      "not-a-cursor",
      encodeCursor(JSON.stringify({ createdAt: 1, id: "x" })),
      encodeCursor(JSON.stringify(["1", "x"])),
      encodeCursor("{"),
    ];
    for (const cursor of forged) {
      const res = await send("GET", `/api/v1/admin/reports?cursor=${encodeURIComponent(cursor)}`, admin);
      expect(res.status, cursor).toBe(400);
      const problem = (await res.json()) as { type: string; errors?: { path: string }[] };
      expect(codeOf(problem)).toBe("validation-failed");
      expect(problem.errors?.map((e) => e.path)).toEqual(["cursor"]);
    }
  });

  it("two admins resolving one report differently at once: one wins, the other is told it is already resolved", async () => {
    const admin = await adminToken();
    const [author, reporter] = await people(2);
    const post = await createPost(author!.token);
    const r = await reported(reporter!, { subjectKind: "post", subjectId: post.id, reason: "spam" });
    const results = await Promise.all([resolve(admin, r.id, "remove"), resolve(admin, r.id, "dismiss")]);
    const statuses = results.map((res) => res.status).sort();
    expect(statuses).toEqual([200, 409]);
    const loser = results.find((res) => res.status === 409)!;
    expect(await codeOfResponse(loser)).toBe("invalid-transition");
    const winner = (await results.find((res) => res.status === 200)!.json()) as ApiReport;
    expect(await rows("SELECT status FROM reports WHERE id = ?", r.id)).toEqual([{ status: winner.status }]);
    expect(await countRows("audit_log", "action = 'moderation.report-resolve' AND detail LIKE ?", `%${r.id}%`)).toBe(1);
    const removed = await rows<{ removed_at: number | null }>("SELECT removed_at FROM posts WHERE id = ?", post.id);
    expect(removed[0]!.removed_at === null).toBe(winner.status === "dismissed");
  });

  it("is for admins: 401 anonymous, 403 for anyone else, and nothing changes", async () => {
    const [author, reporter] = await people(2);
    const post = await createPost(author!.token);
    const r = await reported(reporter!, { subjectKind: "post", subjectId: post.id, reason: "x" });
    expect((await send("GET", "/api/v1/admin/reports", null)).status).toBe(401);
    const list = await send("GET", "/api/v1/admin/reports", reporter!.token);
    expect(list.status).toBe(403);
    expect(await codeOfResponse(list)).toBe("forbidden");
    const res = await resolve(reporter!.token, r.id, "remove");
    expect(res.status).toBe(403);
    expect(await rows("SELECT status FROM reports WHERE id = ?", r.id)).toEqual([{ status: "open" }]);
    expect(await rows("SELECT removed_at FROM posts WHERE id = ?", post.id)).toEqual([{ removed_at: null }]);

    const admin = await adminToken();
    expect((await resolve(admin, "no-such-report", "remove")).status).toBe(404);
    expect((await resolve(admin, r.id, "ban")).status).toBe(400);
  });
});
