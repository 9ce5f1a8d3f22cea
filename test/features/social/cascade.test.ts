/**
 * Deleting a post through the API takes everything that hangs from it: every table in the database
 * (read from sqlite_master, not a list kept by hand) is searched for any value naming the post or one
 * of its comments, and every counter is compared with a COUNT(*) of the rows it counts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { rows } from "../../support/db";
import { createComment, createPost, mediaFor, people, react, send } from "./posts-helpers";

/** Every user table with its columns (SQLite's, D1's and Cloudflare's internal tables left out). */
async function tables(): Promise<{ name: string; columns: string[] }[]> {
  const names = await rows<{ name: string }>(
    `SELECT name FROM sqlite_master WHERE type = 'table'
       AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'`,
  );
  return Promise.all(
    names.map(async ({ name }) => ({
      name,
      columns: (await rows<{ name: string }>("SELECT name FROM pragma_table_info(?)", name)).map((c) => c.name),
    })),
  );
}

/** Rows of any table with any column containing one of `ids` (as a value or inside text such as JSON). */
async function rowsNaming(ids: string[]): Promise<Record<string, unknown[]>> {
  const found: Record<string, unknown[]> = {};
  for (const table of await tables()) {
    // One EXISTS per column over the ids as a JSON array: a flat OR of every column × id is deeper
    // than SQLite's expression limit for wide tables. Columns are qualified: json_each has an `id` too.
    const conditions = table.columns.map(
      (column) =>
        `EXISTS (SELECT 1 FROM json_each(?1) j WHERE instr(CAST(t."${column.replace(/"/g, '""')}" AS TEXT), j.value) > 0)`,
    );
    const hits = await rows(`SELECT * FROM "${table.name}" t WHERE ${conditions.join(" OR ")}`, JSON.stringify(ids));
    if (hits.length) found[table.name] = hits;
  }
  return found;
}

/** Every counter in the database that disagrees with a COUNT(*) of its rows (none, when all is well). */
async function wrongCounters() {
  return {
    posts: await rows(
      `SELECT p.id FROM posts p WHERE
         p.like_count <> (SELECT count(*) FROM post_likes x WHERE x.post_id = p.id)
         OR p.bookmark_count <> (SELECT count(*) FROM bookmarks x WHERE x.post_id = p.id)
         OR p.repost_count <> (SELECT count(*) FROM reposts x WHERE x.post_id = p.id)
         OR p.comment_count <> (SELECT count(*) FROM comments x WHERE x.post_id = p.id AND x.removed_at IS NULL)`,
    ),
    comments: await rows(
      "SELECT c.id FROM comments c WHERE c.like_count <> (SELECT count(*) FROM comment_likes x WHERE x.comment_id = c.id)",
    ),
    profiles: await rows(
      `SELECT pr.user_id FROM profiles pr WHERE
         pr.posts_count <> (SELECT count(*) FROM posts x WHERE x.author_id = pr.user_id AND x.removed_at IS NULL)
         OR pr.followers_count <> (SELECT count(*) FROM follows x WHERE x.followee_id = pr.user_id)
         OR pr.following_count <> (SELECT count(*) FROM follows x WHERE x.follower_id = pr.user_id)`,
    ),
  };
}

describe("deleting a post", () => {
  it("leaves no row naming the post or its comments in any table, and every counter true", async () => {
    const [ana, bob, cy, dee] = await people(4);
    if (!ana || !bob || !cy || !dee) throw new Error("fixtures");
    const suffix = ana.id.slice(0, 8).toLowerCase();
    await env.DB.prepare("UPDATE profiles SET handle = ?, handle_key = ? WHERE user_id = ?")
      .bind(`dee${suffix}`, `dee${suffix}`, dee.id)
      .run();
    await env.DB.prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)")
      .bind(bob.id, ana.id, Date.now())
      .run();

    const image = await mediaFor(ana.id);
    const post = await createPost(ana.token, { text: `party @dee${suffix}`, mediaIds: [image] });
    const other = await createPost(ana.token, { text: "the other post" });
    const top = await createComment(bob.token, post.id, { text: `hi @dee${suffix}` });
    const reply = await createComment(cy.token, post.id, { text: "re", parentId: top.id });
    const second = await createComment(dee.token, post.id, { text: "second" });
    const kept = await createComment(bob.token, other.id, { text: "stays" });
    for (const fan of [bob, cy, dee]) {
      for (const what of ["like", "bookmark", "repost"]) {
        await react("PUT", post.id, what, fan.token);
        await react("PUT", other.id, what, fan.token);
      }
      expect((await send("PUT", `/api/v1/comments/${top.id}/like`, fan.token)).status).toBe(200);
      expect((await send("PUT", `/api/v1/comments/${kept.id}/like`, fan.token)).status).toBe(200);
    }
    expect((await send("PUT", `/api/v1/comments/${reply.id}/like`, ana.token)).status).toBe(200);
    await env.DB.prepare(
      "INSERT INTO reports (id, reporter_id, subject_kind, post_id, reason, created_at) VALUES (?, ?, 'post', ?, 'spam', ?)",
    )
      .bind(crypto.randomUUID(), cy.id, post.id, Date.now())
      .run();
    await env.DB.prepare(
      "INSERT INTO reports (id, reporter_id, subject_kind, comment_id, reason, created_at) VALUES (?, ?, 'comment', ?, 'rude', ?)",
    )
      .bind(crypto.randomUUID(), dee.id, reply.id, Date.now())
      .run();

    const ids = [post.id, top.id, reply.id, second.id];
    const before = await rowsNaming(ids);
    // The fixture really reaches every kind of row the deletion must take.
    expect(Object.keys(before).sort()).toEqual(
      [
        "bookmarks",
        "comment_likes",
        "comments",
        "notifications",
        "post_likes",
        "post_media",
        "posts",
        "reports",
        "reposts",
      ].sort(),
    );
    expect(before.notifications?.length).toBeGreaterThanOrEqual(10);
    expect(await wrongCounters()).toEqual({ posts: [], comments: [], profiles: [] });

    expect((await send("DELETE", `/api/v1/posts/${post.id}`, ana.token)).status).toBe(204);

    expect(await rowsNaming(ids)).toEqual({});
    expect(await wrongCounters()).toEqual({ posts: [], comments: [], profiles: [] });
    expect(await rows("SELECT posts_count FROM profiles WHERE user_id = ?", ana.id)).toEqual([{ posts_count: 1 }]);
    // The other post and what hangs from it are untouched; the image stays its owner's upload.
    expect(
      await rows("SELECT like_count, bookmark_count, repost_count, comment_count FROM posts WHERE id = ?", other.id),
    ).toEqual([{ like_count: 3, bookmark_count: 3, repost_count: 3, comment_count: 1 }]);
    expect(await rows("SELECT like_count FROM comments WHERE id = ?", kept.id)).toEqual([{ like_count: 3 }]);
    expect(await rows("SELECT id FROM media WHERE id = ?", image)).toEqual([{ id: image }]);
    expect((await send("GET", `/api/v1/posts/${post.id}`, null)).status).toBe(404);
  });
});
