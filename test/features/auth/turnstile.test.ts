/**
 * Human challenge (Cloudflare Turnstile): after 3 failed sign-ins for one address or one email
 * within 15 minutes, login, register and otp/request need a token that siteverify accepts.
 * Siteverify is faked at the fetch boundary with Cloudflare's documented response bodies.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freshIp, problemOf } from "../../helpers";
import { codeOf, countRows } from "../../support/db";
import { route } from "../../support/fetch-router";
import { captureLogs } from "../../support/logs";
import { outboxEmails } from "../../support/outbox";
import { TURNSTILE_ORIGIN, useFakeTurnstile } from "../../support/turnstile";
import { emailIndexOf } from "../../support/users";
import { createUser, PASSWORD, postJson, uniqueEmail } from "./helpers";

const GOOD = "XXXX.DUMMY.TOKEN.XXXX-accepted";
const BAD = "XXXX.DUMMY.TOKEN.XXXX-rejected";
const WRONG = "not-the-right-passphrase";

afterEach(() => {
  vi.restoreAllMocks();
});

async function failLogins(emails: string[], ips: string[]) {
  for (const [i, email] of emails.entries()) {
    const res = await postJson("/api/v1/auth/login", { email, password: WRONG }, { ip: ips[i % ips.length] });
    expect(res.status).toBe(401);
  }
}

async function expectChallenge(res: Response) {
  expect(res.status).toBe(403);
  const problem = await problemOf(res);
  expect(codeOf(problem)).toBe("challenge-required");
  expect(problem.challenge).toBe("turnstile");
}

describe("challenge after failures from one address", () => {
  it("two failures are not enough to demand a challenge", async () => {
    const { calls } = useFakeTurnstile([GOOD]);
    const ip = freshIp();
    await failLogins([uniqueEmail(), uniqueEmail()], [ip]);
    const user = await createUser();
    const res = await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD }, { ip });
    expect(res.status).toBe(200);
    expect(calls).toEqual([]);
  });

  it("after 3 failed logins (different emails), a 4th login needs a token siteverify accepts", async () => {
    const { calls } = useFakeTurnstile([GOOD]);
    const logs = captureLogs();
    const ip = freshIp();
    await failLogins([uniqueEmail(), uniqueEmail(), uniqueEmail()], [ip]);
    const user = await createUser();

    // The right password does not help without a token, nor with one siteverify rejects.
    await expectChallenge(await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD }, { ip }));
    expect(calls).toEqual([]);
    await expectChallenge(
      await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD, turnstileToken: BAD }, { ip }),
    );
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);

    const ok = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: PASSWORD, turnstileToken: GOOD },
      { ip },
    );
    expect(ok.status).toBe(200);
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(1);

    // Siteverify received our secret, the client's token and the client's address as form fields.
    const secret = env.TURNSTILE_SECRET as string;
    expect(calls).toEqual([
      { secret, response: BAD, remoteip: ip },
      { secret, response: GOOD, remoteip: ip },
    ]);
    // The rejection is logged with Cloudflare's error codes, never the token or the secret.
    const logged = logs.text();
    expect(logged).toContain("invalid-input-response");
    expect(logged).not.toContain(BAD);
    expect(logged).not.toContain(secret);
  });

  it("the same address then needs the challenge for register and otp/request too", async () => {
    const { calls } = useFakeTurnstile([GOOD]);
    const ip = freshIp();
    await failLogins([uniqueEmail(), uniqueEmail(), uniqueEmail()], [ip]);

    const email = uniqueEmail("newcomer");
    const body = { email, password: "a-long-enough-passphrase", name: "New" };
    await expectChallenge(await postJson("/api/v1/auth/register", body, { ip }));
    await expectChallenge(await postJson("/api/v1/auth/register", { ...body, turnstileToken: BAD }, { ip }));
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
    expect((await outboxEmails({ to: email })).length).toBe(0);
    expect((await postJson("/api/v1/auth/register", { ...body, turnstileToken: GOOD }, { ip })).status).toBe(201);
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(1);

    const known = await createUser();
    await expectChallenge(await postJson("/api/v1/auth/otp/request", { email: known.email }, { ip }));
    await expectChallenge(
      await postJson("/api/v1/auth/otp/request", { email: known.email, turnstileToken: BAD }, { ip }),
    );
    expect(await countRows("otp_codes", "email = ?", emailIndexOf(known.email))).toBe(0);
    const otp = await postJson("/api/v1/auth/otp/request", { email: known.email, turnstileToken: GOOD }, { ip });
    expect(otp.status).toBe(202);
    expect(await countRows("otp_codes", "email = ?", emailIndexOf(known.email))).toBe(1);

    expect(calls.map((c) => c.response)).toEqual([BAD, GOOD, BAD, GOOD]);

    // Another address is not affected.
    expect((await postJson("/api/v1/auth/otp/request", { email: known.email }, { ip: freshIp() })).status).toBe(202);
  });
});

describe("challenge after failures for one email", () => {
  it("3 failures for one email from different addresses demand a challenge for that email anywhere", async () => {
    const { calls } = useFakeTurnstile([GOOD]);
    const user = await createUser();
    await failLogins([user.email, user.email, user.email], [freshIp(), freshIp(), freshIp()]);

    const ip = freshIp();
    await expectChallenge(await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD }, { ip }));
    await expectChallenge(await postJson("/api/v1/auth/otp/request", { email: user.email }, { ip: freshIp() }));
    const ok = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: PASSWORD, turnstileToken: GOOD },
      { ip },
    );
    expect(ok.status).toBe(200);
    expect(calls).toEqual([{ secret: env.TURNSTILE_SECRET, response: GOOD, remoteip: ip }]);

    // Other emails from a fresh address are not challenged.
    const other = await createUser();
    expect((await postJson("/api/v1/auth/login", { email: other.email, password: PASSWORD })).status).toBe(200);
  });

  it("a siteverify outage fails closed: the challenge is not passed", async () => {
    route(TURNSTILE_ORIGIN, () => new Response("upstream error", { status: 502 }));
    const user = await createUser();
    await failLogins([user.email, user.email, user.email], [freshIp(), freshIp(), freshIp()]);
    await expectChallenge(
      await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD, turnstileToken: GOOD }),
    );
  });
});

describe("challenge counters count attempts as they happen", () => {
  it("a concurrent burst of 20 wrong logins across 20 emails from one address: only 3 reach a password check", async () => {
    const { calls } = useFakeTurnstile([GOOD]);
    const ip = freshIp();
    const emails = Array.from({ length: 20 }, () => uniqueEmail());
    const statuses = await Promise.all(
      emails.map((email) => postJson("/api/v1/auth/login", { email, password: WRONG }, { ip }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 403)).toHaveLength(17);
    expect(calls).toEqual([]);
  });

  it("successful logins give their units back: they never bring the challenge on", async () => {
    useFakeTurnstile([GOOD]);
    const ip = freshIp();
    const user = await createUser();
    for (let i = 0; i < 5; i++) {
      const res = await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD }, { ip });
      expect(res.status).toBe(200);
    }
  });
});
