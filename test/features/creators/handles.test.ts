/**
 * Creator handles through the Worker: the availability check (its answers, its padding to 100 ms ±
 * 10 ms whatever the answer, its rate limit), claiming and changing a handle (each refusal changing
 * nothing, 20 concurrent claims of one handle giving one winner, look-alike spellings colliding, the
 * claim limit at its boundary), the grace period of a changed handle (redirects, then free for others
 * on a frozen clock), and onboarding as one atomic step.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, freshIp, problemOf } from "../../helpers";
import { jpeg } from "../../lib/image/fixtures/jpeg";
import { freezeClock } from "../../support/clock";
import { codeOf } from "../../support/db";
import { openedName } from "../../support/users";
import { upload } from "../media/helpers";
import { ok, type Person, people, person, send } from "../social/graph-helpers";

interface Availability {
  handle: string;
  available: boolean;
  reason?: string;
}

let counter = 0;
/** A handle no other test uses. */
function fresh(prefix = "h"): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 30);
}

const check = (handle: string, ip?: string) =>
  call(`/api/v1/handles/${encodeURIComponent(handle)}`, ip === undefined ? {} : { ip });
const claim = (who: Person, handle: unknown) => send("PUT", "/api/v1/me/handle", who.token, { handle });
const onboard = (who: Person, payload: unknown) => send("POST", "/api/v1/me/onboarding", who.token, payload);

async function registry(key: string) {
  return (
    await env.DB.prepare("SELECT handle_key, user_id, state, retired_until FROM handles WHERE handle_key = ?")
      .bind(key)
      .all<{ handle_key: string; user_id: string; state: string; retired_until: number | null }>()
  ).results;
}

/** The stored profile, its name opened (sealed at rest). */
async function profileOf(userId: string) {
  const row = await env.DB.prepare(
    "SELECT u.name, p.handle, p.handle_key, p.avatar_media_id FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = ?",
  )
    .bind(userId)
    .first<{ name: string; handle: string | null; handle_key: string | null; avatar_media_id: string | null }>();
  return row ? { ...row, name: openedName(row.name) } : null;
}

async function expectCode(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const problem = await problemOf(res);
  expect(codeOf(problem)).toBe(code);
  return problem;
}

describe("GET /api/v1/handles/:handle", () => {
  it("says available, taken (also while retired), invalid or reserved, echoing the normalised handle", async () => {
    const ada = await person();
    const taken = fresh("t");
    await ok(await claim(ada, taken));
    const free = fresh("f");
    expect(await ok<Availability>(await check(free))).toEqual({ handle: free, available: true });
    expect(await ok<Availability>(await check(taken.toUpperCase()))).toEqual({
      handle: taken,
      available: false,
      reason: "taken",
    });
    expect(await ok<Availability>(await check("a..b"))).toMatchObject({ available: false, reason: "invalid" });
    expect(await ok<Availability>(await check("ab"))).toMatchObject({ available: false, reason: "invalid" });
    expect(await ok<Availability>(await check("Ａｄｍｉｎ"))).toEqual({
      handle: "admin",
      available: false,
      reason: "reserved",
    });
    // A handle given up is still "taken" for its grace period: not told apart from one in use.
    await ok(await claim(ada, fresh("n")));
    expect(await ok<Availability>(await check(taken))).toEqual({ handle: taken, available: false, reason: "taken" });
  });

  it("answers available, taken and invalid alike in time: each at least 90 ms, medians within 15 ms", async () => {
    const ada = await person();
    const taken = fresh("t");
    await ok(await claim(ada, taken));
    const timings: Record<string, number[]> = { available: [], taken: [], invalid: [] };
    const inputs: Record<string, () => string> = {
      available: () => fresh("f"),
      taken: () => taken,
      invalid: () => "x",
    };
    // Nine interleaved rounds: a busy machine's noise falls on every kind alike and the medians see through it.
    for (let round = 0; round < 9; round++) {
      for (const kind of Object.keys(timings)) {
        // Date.now() moves across the awaited fetch (workerd advances it at I/O, not during compute).
        const started = Date.now();
        const res = await check(inputs[kind]?.() ?? "");
        await res.arrayBuffer();
        timings[kind]?.push(Date.now() - started);
        expect(res.status).toBe(200);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    for (const [kind, xs] of Object.entries(timings)) {
      for (const ms of xs) expect(ms, `${kind}: ${xs.join(", ")}`).toBeGreaterThanOrEqual(90);
      expect(median(xs), `${kind}: ${xs.join(", ")}`).toBeLessThan(200);
    }
    const medians = Object.values(timings).map(median);
    expect(Math.max(...medians) - Math.min(...medians), JSON.stringify(timings)).toBeLessThan(15);
  });

  it("allows 30 checks a minute per address; the 31st is 429 handle-check, padded too", async () => {
    const ip = freshIp();
    const answers = await Promise.all(Array.from({ length: 30 }, () => check(fresh("r"), ip)));
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    const started = Date.now();
    const over = await check(fresh("r"), ip);
    const problem = await expectCode(over, 429, "rate-limited");
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(problem.policy).toBe("handle-check");
    expect(over.headers.get("Retry-After")).toMatch(/^\d+$/);
    // Another address is unaffected.
    expect((await check(fresh("r"))).status).toBe(200);
  });
});

describe("PUT /api/v1/me/handle", () => {
  it("claims a handle: the registry row, the profile's copy and the answer agree", async () => {
    const ada = await person();
    const handle = fresh("ada");
    expect(await ok(await claim(ada, `  ${handle.toUpperCase()} `))).toEqual({ handle });
    expect(await registry(handle)).toEqual([
      { handle_key: handle, user_id: ada.id, state: "active", retired_until: null },
    ]);
    expect(await profileOf(ada.id)).toMatchObject({ handle, handle_key: handle });
    // Claiming one's own handle again changes nothing.
    expect(await ok(await claim(ada, handle))).toEqual({ handle });
    expect(await registry(handle)).toHaveLength(1);
  });

  it("refuses handles that break a rule with 422 invalid-handle and its reason, changing nothing", async () => {
    const ada = await person();
    const mine = fresh("m");
    await ok(await claim(ada, mine));
    const cases: [string, string][] = [
      ["ab", "too-short"],
      ["a".repeat(31), "too-long"],
      ["ada-l", "invalid-characters"],
      ["аda", "invalid-characters"], // Cyrillic а: a look-alike from another script
      [".ada", "dots"],
      ["ad..a", "dots"],
      ["support", "reserved"],
      ["g.a.t.e.h.o.u.s.e", "reserved"],
    ];
    for (const [input, reason] of cases) {
      const problem = await expectCode(await claim(ada, input), 422, "invalid-handle");
      expect(problem.reason, input).toBe(reason);
    }
    expect(await profileOf(ada.id)).toMatchObject({ handle: mine });
    expect(
      (await env.DB.prepare("SELECT COUNT(*) AS n FROM handles WHERE user_id = ?").bind(ada.id).first<{ n: number }>())
        ?.n,
    ).toBe(1);
    await expectCode(await claim(ada, 42), 400, "validation-failed");
    await expectCode(await send("PUT", "/api/v1/me/handle", null, { handle: fresh() }), 401, "unauthorized");
  });

  it("refuses someone else's handle in any look-alike spelling (case, full-width, ligature) with 409", async () => {
    const [ada, ...others] = await people(5);
    if (!ada) throw new Error("people");
    const handle = `fi${fresh("x")}`.slice(0, 20);
    await ok(await claim(ada, handle));
    const fullWidth = [...handle].map((ch) => String.fromCodePoint((ch.codePointAt(0) ?? 0) + 0xfee0)).join("");
    // One claimant per spelling: every lost claim counts against its claimant's 3 an hour.
    const spellings = [handle, handle.toUpperCase(), fullWidth, `ﬁ${handle.slice(2)}`];
    for (const [i, spelling] of spellings.entries()) {
      const claimant = others[i];
      if (!claimant) throw new Error("people");
      await expectCode(await claim(claimant, spelling), 409, "handle-taken");
      expect(await profileOf(claimant.id)).toMatchObject({ handle: null, handle_key: null });
    }
    expect(await registry(handle)).toEqual([expect.objectContaining({ user_id: ada.id, state: "active" })]);
  });

  it("20 users claiming one handle at once: exactly one 200, nineteen 409, one registry row", async () => {
    const crowd = await people(20);
    const handle = fresh("race");
    const answers = await Promise.all(crowd.map((p) => claim(p, handle)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array(19).fill(409)]);
    const rows = await registry(handle);
    expect(rows).toHaveLength(1);
    const winner = crowd[answers.findIndex((r) => r.status === 200)];
    expect(rows[0]).toMatchObject({ user_id: winner?.id, state: "active" });
    const holders = await env.DB.prepare("SELECT user_id FROM profiles WHERE handle_key = ?").bind(handle).all();
    expect(holders.results).toEqual([{ user_id: winner?.id }]);
    for (const res of answers.filter((r) => r.status === 409))
      expect(codeOf(await problemOf(res))).toBe("handle-taken");
  });

  it("counts 3 claims an hour that reach the registry: invalid ones and one's own handle are free, the 4th is 429", async () => {
    const ada = await person();
    const [h1, h2, h3, h4] = [fresh("a"), fresh("b"), fresh("c"), fresh("d")];
    await expectCode(await claim(ada, "no"), 422, "invalid-handle");
    await expectCode(await claim(ada, "admin"), 422, "invalid-handle");
    await ok(await claim(ada, h1));
    await ok(await claim(ada, h1)); // already hers: nothing reaches the registry
    await ok(await claim(ada, h2));
    const third = await claim(ada, h3);
    await ok(third);
    expect(third.headers.get("RateLimit")).toContain('"handle-claim";r=0');
    const problem = await expectCode(await claim(ada, h4), 429, "rate-limited");
    expect(problem.policy).toBe("handle-claim");
    expect(await registry(h4)).toEqual([]);
    expect(await profileOf(ada.id)).toMatchObject({ handle: h3 });
  });
});

describe("a changed handle", () => {
  it("redirects /@old and its profile to the new handle for 14 days, then is free for someone else", async () => {
    const clock = freezeClock();
    const ada = await person();
    const [old, next] = [fresh("old"), fresh("new")];
    await ok(await claim(ada, old));
    await ok(await claim(ada, next));
    const grace = 14 * 24 * 60 * 60 * 1000;
    expect(await registry(old)).toEqual([
      { handle_key: old, user_id: ada.id, state: "retired", retired_until: clock.now() + grace },
    ]);
    expect(await registry(next)).toEqual([expect.objectContaining({ user_id: ada.id, state: "active" })]);
    expect(await profileOf(ada.id)).toMatchObject({ handle: next });

    const page = await call(`/@${old}`, { headers: { Accept: "text/html" }, redirect: "manual" });
    expect(page.status).toBe(301);
    expect(page.headers.get("Location")).toBe(`/@${next}`);
    const api = await call(`/api/v1/profiles/${old}`, { redirect: "manual" });
    expect(api.status).toBe(301);
    expect(api.headers.get("Location")).toBe(`/api/v1/profiles/${next}`);

    // In the grace period nobody else may take it; a millisecond before its end still not.
    await expectCode(await claim(await person(), old), 409, "handle-taken");
    // Access tokens live 15 minutes: each step past the grace signs in someone new.
    clock.set(clock.now() + grace - 1);
    await expectCode(await claim(await person(), old), 409, "handle-taken");
    // At the end of the grace period it is free: the old page no longer redirects, and bob can claim it.
    clock.advance(1);
    expect((await call(`/api/v1/profiles/${old}`, { redirect: "manual" })).status).toBe(404);
    expect(await ok<Availability>(await check(old))).toEqual({ handle: old, available: true });
    const bob = await person();
    await ok(await claim(bob, old));
    expect(await registry(old)).toEqual([expect.objectContaining({ user_id: bob.id, state: "active" })]);
    expect(await profileOf(bob.id)).toMatchObject({ handle: old });
    expect(await profileOf(ada.id)).toMatchObject({ handle: next });
  });

  it("its owner may take it back during the grace period; the handle left is retired in turn", async () => {
    const ada = await person();
    const [old, next] = [fresh("old"), fresh("new")];
    await ok(await claim(ada, old));
    await ok(await claim(ada, next));
    await ok(await claim(ada, old));
    expect(await registry(old)).toEqual([expect.objectContaining({ user_id: ada.id, state: "active" })]);
    expect(await registry(next)).toEqual([expect.objectContaining({ user_id: ada.id, state: "retired" })]);
    expect(await profileOf(ada.id)).toMatchObject({ handle: old });
  });
});

describe("POST /api/v1/me/onboarding", () => {
  it("sets name, handle and avatar in one step", async () => {
    const ada = await person();
    const avatar = await upload(ada.token, jpeg(), { purpose: "avatar" });
    const handle = fresh("ada");
    const profile = await ok(await onboard(ada, { name: " Ada Lovelace ", handle, avatarMediaId: avatar.id }));
    expect(profile).toEqual({ id: ada.id, name: "Ada Lovelace", bio: "", avatarMediaId: avatar.id, handle });
    expect(await profileOf(ada.id)).toEqual({
      name: "Ada Lovelace",
      handle,
      handle_key: handle,
      avatar_media_id: avatar.id,
    });
    expect(await registry(handle)).toEqual([expect.objectContaining({ user_id: ada.id, state: "active" })]);
  });

  it("changes nothing when the handle is taken: name, avatar and handle stay as they were", async () => {
    const [ada, bob] = await people(2);
    if (!ada || !bob) throw new Error("people");
    const taken = fresh("t");
    await ok(await claim(ada, taken));
    const before = await profileOf(bob.id);
    const avatar = await upload(bob.token, jpeg(), { purpose: "avatar" });
    await expectCode(
      await onboard(bob, { name: "Bob Changed", handle: taken.toUpperCase(), avatarMediaId: avatar.id }),
      409,
      "handle-taken",
    );
    expect(await profileOf(bob.id)).toEqual(before);
    expect(before?.name).not.toBe("Bob Changed");
  });

  it("changes nothing when the avatar is not the caller's avatar upload, nor when the handle is invalid", async () => {
    const [ada, bob] = await people(2);
    if (!ada || !bob) throw new Error("people");
    const before = await profileOf(bob.id);
    const adas = await upload(ada.token, jpeg(), { purpose: "avatar" });
    const handle = fresh("b");
    const problem = await expectCode(
      await onboard(bob, { name: "Bob Changed", handle, avatarMediaId: adas.id }),
      400,
      "validation-failed",
    );
    expect((problem.errors as { path: string }[]).map((e) => e.path)).toEqual(["avatarMediaId"]);
    expect(await registry(handle)).toEqual([]);
    expect(await profileOf(bob.id)).toEqual(before);
    await expectCode(await onboard(bob, { name: "Bob Changed", handle: "x" }), 422, "invalid-handle");
    await expectCode(await onboard(bob, { name: "", handle }), 400, "validation-failed");
    expect(await profileOf(bob.id)).toEqual(before);
  });
});
