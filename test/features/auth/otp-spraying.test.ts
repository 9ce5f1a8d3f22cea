/**
 * Sign-in codes sprayed across accounts: the per-email lockout alone let one address try 5 codes on
 * every account it could name. Wrong codes also count per client address (IPv6 by /64) and against a
 * platform-wide budget (otp-global-budget.test.ts, a file of its own: the budget is one key for the
 * whole platform); past them codes are not even evaluated (429 + Retry-After). Only wrong codes stay
 * counted.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_RATE_POLICIES } from "../../../src/config/limits";
import { freshIp, problemOf } from "../../helpers";
import { codeOf } from "../../support/db";
import { createUser, otpFromMail, postJson } from "./helpers";
import { evaluatedFor } from "./otp-audit";

const PER_ADDRESS = DEFAULT_RATE_POLICIES["otp-verify-ip"].limit;

afterEach(() => {
  vi.restoreAllMocks();
});

function verify(email: string, code: string, ip: string, extra: Record<string, unknown> = {}) {
  return postJson("/api/v1/auth/otp/verify", { email, code, ...extra }, { ip });
}

describe("wrong codes from one address across many accounts", () => {
  it("30 accounts × 5 wrong codes from one address: at most the per-address budget is evaluated, the rest are 429", async () => {
    const ip = freshIp();
    const users = await Promise.all(Array.from({ length: 30 }, () => createUser()));
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (const user of users) {
      for (let guess = 0; guess < 5; guess++) {
        const res = await verify(user.email, String(100000 + guess), ip);
        statuses.push(res.status);
        if (res.status === 429) limited ??= res;
        else await res.body?.cancel();
      }
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(PER_ADDRESS);
    expect(statuses.filter((s) => s === 429)).toHaveLength(150 - PER_ADDRESS);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    expect(await evaluatedFor(users.map((u) => u.email))).toBe(PER_ADDRESS);

    if (!limited) throw new Error("never limited");
    expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);
    const problem = await problemOf(limited);
    expect(codeOf(problem)).toBe("rate-limited");
    expect(problem.policy).toBe("otp-verify-ip");

    // Refused guesses were not charged to the accounts: the third account (never evaluated) is not
    // locked, and its owner signs in from their own address.
    const owner = users[2];
    if (!owner) throw new Error("no user");
    const home = freshIp();
    expect((await postJson("/api/v1/auth/otp/request", { email: owner.email }, { ip: home })).status).toBe(202);
    const code = await otpFromMail(owner.email);
    expect((await verify(owner.email, code, home)).status).toBe(200);
  });

  it("right codes do not spend the address's budget: only wrong ones count", async () => {
    const ip = freshIp();
    for (let i = 0; i < PER_ADDRESS + 2; i++) {
      const user = await createUser();
      expect((await postJson("/api/v1/auth/otp/request", { email: user.email }, { ip })).status).toBe(202);
      const res = await verify(user.email, await otpFromMail(user.email), ip);
      expect(res.status).toBe(200);
    }
  });
});
