/**
 * Access tokens: 15-minute lifetime, key rotation by `kid` (the previous key still verifies), and
 * refusal of unknown keys, altered tokens and unsigned (`alg: none`) tokens.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signAccessToken } from "../../../src/features/auth/tokens";
import { call, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOf } from "../../support/db";
import { b64urlJson, bearer, createUser, jwtPayload, login } from "./helpers";

const T0 = Date.UTC(2032, 6, 7, 10, 0, 0);
const KEYS = JSON.parse(env.JWT_KEYS as string) as { kid: string; secret: string }[];

function me(token: string) {
  return call("/api/v1/me", { headers: bearer(token) });
}

async function expectRefused(res: Response) {
  expect(res.status).toBe(401);
  expect(codeOf(await problemOf(res))).toBe("unauthorized");
}

async function signedInClaims() {
  const user = await createUser();
  const tokens = await login(user.email);
  const payload = jwtPayload(tokens.accessToken);
  return {
    user,
    tokens,
    claims: { sub: payload.sub as string, sid: payload.sid as string, epoch: payload.epoch as number },
  };
}

describe("access token lifetime", () => {
  it("is accepted until 15 minutes after issue and refused from then on", async () => {
    freezeClock(T0);
    const { tokens } = await signedInClaims();
    const header = JSON.parse(atob(tokens.accessToken.split(".")[0] as string)) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: "HS256", kid: "test-current" });
    const payload = jwtPayload(tokens.accessToken);
    expect(Number(payload.exp) - Number(payload.iat)).toBe(900);

    setClock(T0 + 15 * 60_000 - 1000);
    expect((await me(tokens.accessToken)).status).toBe(200);
    setClock(T0 + 15 * 60_000);
    await expectRefused(await me(tokens.accessToken));
  });
});

describe("signing keys", () => {
  it("the configured key set is current first, previous second", () => {
    expect(KEYS.map((k) => k.kid)).toEqual(["test-current", "test-previous"]);
  });

  it("accepts a token signed with the previous key (rotation without signing anyone out)", async () => {
    const { claims, user } = await signedInClaims();
    const previous = KEYS[1] as { kid: string; secret: string };
    const token = await signAccessToken([previous], claims);
    expect(JSON.parse(atob(token.split(".")[0] as string)).kid).toBe("test-previous");
    const res = await me(token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(user.id);
  });

  it("refuses a token whose kid is not configured, even when signed with a configured secret", async () => {
    const { claims } = await signedInClaims();
    const current = KEYS[0] as { kid: string; secret: string };
    await expectRefused(await me(await signAccessToken([{ kid: "retired", secret: current.secret }], claims)));
    await expectRefused(
      await me(
        await signAccessToken([{ kid: "test-current", secret: "someone-elses-secret-0123456789abcdef" }], claims),
      ),
    );
  });

  it("refuses a token with a tampered signature or payload", async () => {
    const { tokens } = await signedInClaims();
    const other = await createUser();
    const [header, payload, signature] = tokens.accessToken.split(".") as [string, string, string];
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`;
    await expectRefused(await me(`${header}.${payload}.${flipped}`));
    const forged = b64urlJson({ ...jwtPayload(tokens.accessToken), sub: other.id });
    await expectRefused(await me(`${header}.${forged}.${signature}`));
  });

  it("refuses an unsigned token (alg: none)", async () => {
    const { tokens } = await signedInClaims();
    const unsigned = `${b64urlJson({ alg: "none", typ: "JWT", kid: "test-current" })}.${b64urlJson(jwtPayload(tokens.accessToken))}.`;
    await expectRefused(await me(unsigned));
    await expectRefused(await me(unsigned.slice(0, -1)));
  });

  it("refuses a well-signed token whose session is not the subject's", async () => {
    const { claims } = await signedInClaims();
    const other = await createUser();
    const token = await signAccessToken([KEYS[0] as { kid: string; secret: string }], { ...claims, sub: other.id });
    await expectRefused(await me(token));
  });
});
