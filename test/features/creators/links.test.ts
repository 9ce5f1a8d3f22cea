import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  createLink,
  LINK_TRANSITIONS,
  type LinkState,
  publicLinks,
  suggestLink,
} from "../../../src/features/creators/links";
import { call, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf, countRows, rows } from "../../support/db";
import { bearer } from "../auth/helpers";
import { buyers } from "../events/helpers";

interface ApiLink {
  id: string;
  title: string;
  url: string;
  kind: string;
  state: LinkState;
  position: number;
  version: number;
  listVersion?: number;
}

async function creator() {
  const [user] = await buyers(1);
  if (!user) throw new Error("no user");
  return user;
}

function send(method: string, path: string, token: string, payload?: unknown, headers: Record<string, string> = {}) {
  return call(path, {
    method,
    headers: {
      ...bearer(token),
      ...(payload === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  });
}

async function list(token: string) {
  const res = await send("GET", "/api/v1/me/links", token);
  expect(res.status).toBe(200);
  return (await res.json()) as { items: ApiLink[]; version: number };
}

async function add(token: string, title = "Site", url = "https://example.com/") {
  const res = await send("POST", "/api/v1/me/links", token, { title, url });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiLink;
}

const scopeVersion = async (userId: string) =>
  (await rows<{ version: number }>("SELECT version FROM cache_versions WHERE scope = ?", `creator:${userId}`))[0]
    ?.version ?? 0;

/** Everything a refused write must leave alone. */
async function snapshot(userId: string) {
  return {
    links: await rows("SELECT * FROM links WHERE user_id = ? ORDER BY id", userId),
    list: await rows("SELECT * FROM link_lists WHERE user_id = ?", userId),
    scope: await scopeVersion(userId),
  };
}

describe("links: create and list", () => {
  it("adds active links at the end, stores the parser's canonical URL, and moves the list version and cache scope", async () => {
    const user = await creator();
    expect(await list(user.token)).toEqual({ items: [], version: 0 });
    const a = await add(user.token, "  Shop  ", "HTTPS://Example.COM/a b");
    const b = await add(user.token, "Tickets", "https://example.org/t");
    expect(a).toMatchObject({ title: "Shop", url: "https://example.com/a%20b", kind: "link", state: "active" });
    expect([a.position, b.position]).toEqual([0, 1]);
    expect(b.listVersion).toBe(2);
    const listed = await list(user.token);
    expect(listed.version).toBe(2);
    expect(listed.items.map((l) => l.id)).toEqual([a.id, b.id]);
    expect(await scopeVersion(user.id)).toBe(2);
  });

  it("needs a signed-in user", async () => {
    const anonymous = await call("/api/v1/me/links");
    expect(anonymous.status).toBe(401);
  });

  it("refuses unsafe URLs with 422 invalid-url and its reason, storing nothing", async () => {
    const user = await creator();
    await add(user.token);
    const before = await snapshot(user.id);
    const cases: [string, string][] = [
      ["http://127.0.0.1/admin", "loopback"],
      ["http://0x7f.1/", "loopback"],
      ["http://[::ffff:127.0.0.1]/", "loopback"],
      ["http://169.254.169.254/latest/meta-data", "metadata"],
      ["http://10.0.0.1/", "private-address"],
      ["http://shop.localhost/", "loopback"],
      ["https://user:pw@example.com/", "credentials"],
      ["ftp://example.com/file", "not-http"],
      [`https://example.com/${"a".repeat(2048)}`, "too-long"],
    ];
    for (const [url, reason] of cases) {
      const res = await send("POST", "/api/v1/me/links", user.token, { title: "x", url });
      expect(res.status, url).toBe(422);
      const problem = await problemOf(res);
      expect(codeOf(problem), url).toBe("invalid-url");
      expect(problem.reason, url).toBe(reason);
    }
    expect(await snapshot(user.id)).toEqual(before);
  });

  it("honours Idempotency-Key on create: a retry gets the same link and stores one", async () => {
    const user = await creator();
    const key = crypto.randomUUID();
    const first = await send(
      "POST",
      "/api/v1/me/links",
      user.token,
      { title: "A", url: "https://a.example/" },
      { "Idempotency-Key": key },
    );
    const again = await send(
      "POST",
      "/api/v1/me/links",
      user.token,
      { title: "A", url: "https://a.example/" },
      { "Idempotency-Key": key },
    );
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await again.json()) as ApiLink).id).toBe(((await first.json()) as ApiLink).id);
    expect(await countRows("links", "user_id = ?", user.id)).toBe(1);
  });

  it("the 101st link is refused with 409 too-many-links and changes nothing", async () => {
    const user = await creator();
    for (let i = 0; i < 100; i += 1)
      await createLink(env.DB, user.id, { title: `L${i}`, url: `https://example.com/${i}` });
    const before = await snapshot(user.id);
    const res = await send("POST", "/api/v1/me/links", user.token, { title: "one more", url: "https://example.com/x" });
    expect(res.status).toBe(409);
    expect(codeOf(await problemOf(res))).toBe("too-many-links");
    expect(await snapshot(user.id)).toEqual(before);
    expect(await countRows("links", "user_id = ?", user.id)).toBe(100);
  });

  it("110 concurrent creates store exactly 100 links at distinct positions, and the version counts them", async () => {
    const user = await creator();
    const results = await Promise.allSettled(
      Array.from({ length: 110 }, (_, i) =>
        createLink(env.DB, user.id, { title: `L${i}`, url: `https://example.com/${i}` }),
      ),
    );
    const refused = results.filter((r) => r.status === "rejected");
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(100);
    expect(refused).toHaveLength(10);
    for (const r of refused) expect((r as PromiseRejectedResult).reason.code).toBe("too-many-links");
    const positions = await rows<{ position: number }>(
      "SELECT position FROM links WHERE user_id = ? ORDER BY position",
      user.id,
    );
    expect(positions.map((p) => p.position)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect((await rows("SELECT version FROM link_lists WHERE user_id = ?", user.id))[0]).toEqual({ version: 100 });
  });
});

describe("links: edit, delete, reorder under the list version", () => {
  it("edits title and URL with the current version; a stale version is 409 with the current one and changes nothing", async () => {
    const user = await creator();
    const link = await add(user.token);
    const ok = await send("PATCH", `/api/v1/me/links/${link.id}`, user.token, {
      version: 1,
      title: "New",
      url: "https://new.example/",
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ title: "New", url: "https://new.example/", version: 2, listVersion: 2 });
    const before = await snapshot(user.id);
    const stale = await send("PATCH", `/api/v1/me/links/${link.id}`, user.token, { version: 1, title: "Stale" });
    expect(stale.status).toBe(409);
    const problem = await problemOf(stale);
    expect(codeOf(problem)).toBe("version-conflict");
    expect(problem.version).toBe(2);
    expect(await snapshot(user.id)).toEqual(before);
  });

  it("of 10 concurrent edits against one version exactly one applies; the others are 409 and leave nothing behind", async () => {
    const user = await creator();
    const link = await add(user.token);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        send("PATCH", `/api/v1/me/links/${link.id}`, user.token, { version: 1, title: `T${i}` }),
      ),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);
    const [stored] = await rows<{ version: number }>("SELECT version FROM links WHERE id = ?", link.id);
    expect(stored?.version).toBe(2);
    expect((await list(user.token)).version).toBe(2);
    expect(await scopeVersion(user.id)).toBe(2);
  });

  it("deletes with ?version=, closing the gap in positions; a stale version is 409 and deletes nothing", async () => {
    const user = await creator();
    const [a, b, c] = [await add(user.token, "a"), await add(user.token, "b"), await add(user.token, "c")];
    const before = await snapshot(user.id);
    const stale = await send("DELETE", `/api/v1/me/links/${a?.id}?version=2`, user.token);
    expect(stale.status).toBe(409);
    expect(await snapshot(user.id)).toEqual(before);
    const res = await send("DELETE", `/api/v1/me/links/${a?.id}?version=3`, user.token);
    expect(res.status).toBe(204);
    const after = await list(user.token);
    expect(after.version).toBe(4);
    expect(after.items.map((l) => [l.id, l.position])).toEqual([
      [b?.id, 0],
      [c?.id, 1],
    ]);
  });

  it("someone else's link is 404 and stays", async () => {
    const [owner, other] = [await creator(), await creator()];
    const link = await add(owner.token);
    const res = await send("PATCH", `/api/v1/me/links/${link.id}`, other.token, { version: 0, title: "mine" });
    expect(res.status).toBe(404);
    const del = await send("DELETE", `/api/v1/me/links/${link.id}?version=0`, other.token);
    expect(del.status).toBe(404);
    expect(await countRows("links", "id = ? AND title = 'Site'", link.id)).toBe(1);
  });

  it("reorders in place; a stale version is 409 and an order that is not exactly the list is 422, both changing nothing", async () => {
    const user = await creator();
    const [a, b, c] = [await add(user.token, "a"), await add(user.token, "b"), await add(user.token, "c")];
    const other = await add((await creator()).token, "foreign");
    const ids = [c?.id, a?.id, b?.id] as string[];
    const before = await snapshot(user.id);
    const stale = await send("PUT", "/api/v1/me/links/order", user.token, { ids, version: 2 });
    expect(stale.status).toBe(409);
    expect(codeOf(await problemOf(stale))).toBe("version-conflict");
    for (const bad of [
      [c?.id, a?.id],
      [c?.id, a?.id, a?.id],
      [c?.id, a?.id, b?.id, other.id],
      [c?.id, a?.id, other.id],
    ]) {
      const res = await send("PUT", "/api/v1/me/links/order", user.token, { ids: bad, version: 3 });
      expect(res.status).toBe(422);
      expect(codeOf(await problemOf(res))).toBe("invalid-link-order");
    }
    expect(await snapshot(user.id)).toEqual(before);
    const ok = await send("PUT", "/api/v1/me/links/order", user.token, { ids, version: 3 });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ids, version: 4 });
    expect((await list(user.token)).items.map((l) => [l.id, l.position])).toEqual(ids.map((id, i) => [id, i]));
  });

  it("of 10 concurrent reorders against one version exactly one applies", async () => {
    const user = await creator();
    const [a, b] = [await add(user.token, "a"), await add(user.token, "b")];
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        send("PUT", "/api/v1/me/links/order", user.token, { ids: [b.id, a.id], version: 2 }),
      ),
    );
    expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409)).toHaveLength(9);
    expect((await list(user.token)).version).toBe(3);
  });
});

describe("links: states", () => {
  const states: LinkState[] = ["suggested", "active", "hidden"];
  const allowed: Record<LinkState, LinkState[]> = {
    suggested: ["suggested", "active", "hidden"],
    active: ["active", "hidden"],
    hidden: ["hidden", "active"],
  };

  it("the transition table is suggested → active | hidden and active ↔ hidden", () => {
    expect(LINK_TRANSITIONS).toEqual({ suggested: ["active", "hidden"], active: ["hidden"], hidden: ["active"] });
  });

  for (const from of states) {
    for (const to of states) {
      const ok = allowed[from].includes(to);
      it(`${from} → ${to} is ${ok ? "200" : "422 invalid-transition, changing nothing"}`, async () => {
        const user = await creator();
        const link = await suggestLink(env.DB, user.id, { title: "s", url: "https://example.com/" });
        if (from !== "suggested")
          await env.DB.prepare("UPDATE links SET state = ? WHERE id = ?").bind(from, link.id).run();
        const before = await snapshot(user.id);
        const res = await send("PATCH", `/api/v1/me/links/${link.id}`, user.token, { version: 1, state: to });
        if (ok) {
          expect(res.status).toBe(200);
          expect(((await res.json()) as ApiLink).state).toBe(to);
        } else {
          expect(res.status).toBe(422);
          // The contract's type (API.md, Creators), with the 422 it gives it for links.
          expect(codeOf(await problemOf(res))).toBe("invalid-transition");
          expect(await snapshot(user.id)).toEqual(before);
        }
      });
    }
  }

  it("creating cannot choose a state: suggested links come from the platform only", async () => {
    const user = await creator();
    const res = await send("POST", "/api/v1/me/links", user.token, {
      title: "x",
      url: "https://e.example/",
      state: "suggested",
    });
    expect(res.status).toBe(400);
    expect(await countRows("links", "user_id = ?", user.id)).toBe(0);
  });

  it("publicLinks lists active links only, by position", async () => {
    const user = await creator();
    const a = await add(user.token, "a");
    const hidden = await add(user.token, "h");
    await suggestLink(env.DB, user.id, { title: "s", url: "https://s.example/" });
    const b = await add(user.token, "b");
    const res = await send("PATCH", `/api/v1/me/links/${hidden.id}`, user.token, { version: 4, state: "hidden" });
    expect(res.status).toBe(200);
    expect(await publicLinks(env.DB, user.id)).toEqual([
      { id: a.id, title: "a", url: "https://example.com/", kind: "link" },
      { id: b.id, title: "b", url: "https://example.com/", kind: "link" },
    ]);
  });
});

describe("links: rate limit", () => {
  it("allows 30 writes a minute per user; the 31st is 429 and stores nothing", async () => {
    const user = await creator();
    // Frozen: the budget must not refill (one unit per 2 s) while the 30 writes run.
    freezeClock(Date.now());
    for (let i = 0; i < 30; i += 1) {
      const res = await send("POST", "/api/v1/me/links", user.token, { title: `${i}`, url: "https://example.com/" });
      expect(res.status, `write ${i + 1}`).toBe(201);
    }
    const res = await send("POST", "/api/v1/me/links", user.token, { title: "31", url: "https://example.com/" });
    expect(res.status).toBe(429);
    expect(codeOf(await problemOf(res))).toBe("rate-limited");
    expect(await countRows("links", "user_id = ?", user.id)).toBe(30);
  });
});
