/**
 * Ticket token forgery and time checks, through POST /api/v1/scan (and the verifier itself where
 * the edge is a single second): every tampered, foreign, unsigned or mistimed token is refused
 * with the right result, and none of them redeems anything.
 */
import { base64url, CompactSign, generateKeyPair } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { signTicketToken, verifyTicketToken } from "../../../src/features/gate/token";
import { objectRows } from "../../support/db";
import {
  gateEvent,
  inventory,
  issueTickets,
  qrToken,
  rawToken,
  registerDevice,
  scanBody,
  scanRaised,
  testKeyRing,
} from "./helpers";

let fixture: {
  eventId: string;
  ticketId: string;
  deviceToken: string;
  signer: CryptoKey;
  kid: string;
  publicX: string;
  good: string;
};

beforeAll(async () => {
  const { host, event } = await gateEvent();
  const [ticket] = await issueTickets(event.id, 1);
  if (!ticket) throw new Error("no ticket");
  const device = await registerDevice(event.id, host.token);
  const ring = await testKeyRing();
  fixture = {
    eventId: event.id,
    ticketId: ticket.id,
    deviceToken: device.token,
    signer: ring.signer.key,
    kid: ring.signer.kid,
    publicX: ring.jwks.keys[0]?.x as string,
    good: await qrToken(ticket.id, ticket.holder.token),
  };
});

const result = async (token: string) => (await scanBody(await scanRaised(fixture.deviceToken, token))).result;
const parts = (token: string) => token.split(".") as [string, string, string];

function flipBit(segment: string, bit: number): string {
  const bytes = base64url.decode(segment);
  bytes[Math.floor(bit / 8)] = (bytes[Math.floor(bit / 8)] as number) ^ (1 << (bit % 8));
  return base64url.encode(bytes);
}

describe("ticket tokens", () => {
  it("a minted token is a compact EdDSA JWS of at most 200 characters: header { alg, kid }, 33-byte payload", () => {
    const [header, payload] = parts(fixture.good);
    expect(fixture.good.length).toBeLessThanOrEqual(200);
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(header)))).toEqual({ alg: "EdDSA", kid: fixture.kid });
    const bytes = base64url.decode(payload);
    expect(bytes).toHaveLength(33);
    expect(bytes[0]).toBe(1);
    expect(base64url.encode(bytes.subarray(1, 17))).toBe(fixture.ticketId);
  });

  it("refuses a token with one bit flipped in the signature, the payload or the header: invalid", async () => {
    const [h, p, s] = parts(fixture.good);
    expect(await result(`${h}.${p}.${flipBit(s, 0)}`)).toBe("invalid");
    expect(await result(`${h}.${p}.${flipBit(s, 300)}`)).toBe("invalid");
    expect(await result(`${h}.${flipBit(p, 9)}.${s}`)).toBe("invalid");
    expect(await result(`${flipBit(h, 3)}.${p}.${s}`)).toBe("invalid");
  });

  it("refuses a token signed by another Ed25519 key under the right kid: invalid", async () => {
    const { privateKey } = await generateKeyPair("EdDSA");
    const now = Date.now();
    const forged = await rawToken(privateKey, fixture.kid, {
      ticketId: fixture.ticketId,
      eventId: fixture.eventId,
      iat: now,
      exp: now + 60_000,
    });
    expect(await result(forged)).toBe("invalid");
  });

  it("refuses alg none (with and without a signature part): invalid", async () => {
    const [, p] = parts(fixture.good);
    const none = base64url.encode(JSON.stringify({ alg: "none", kid: fixture.kid }));
    expect(await result(`${none}.${p}.`)).toBe("invalid");
    expect(await result(`${none}.${p}.${parts(fixture.good)[2]}`)).toBe("invalid");
  });

  it("refuses HS256 signed with the public key as the HMAC secret (algorithm confusion): invalid", async () => {
    const [, p] = parts(fixture.good);
    const payload = base64url.decode(p);
    const jwk = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: fixture.publicX });
    for (const secret of [base64url.decode(fixture.publicX), new TextEncoder().encode(jwk)]) {
      const confused = await new CompactSign(payload)
        .setProtectedHeader({ alg: "HS256", kid: fixture.kid })
        .sign(secret);
      expect(await result(confused)).toBe("invalid");
    }
  });

  it("refuses an unknown kid, an extra header parameter (embedded jwk, typ) and a wrong type byte: invalid", async () => {
    const now = Date.now();
    const claims = { ticketId: fixture.ticketId, eventId: fixture.eventId, iat: now, exp: now + 60_000 };
    expect(await result(await rawToken(fixture.signer, "nobody", claims))).toBe("invalid");
    expect(
      await result(
        await rawToken(fixture.signer, fixture.kid, claims, {
          jwk: { kty: "OKP", crv: "Ed25519", x: fixture.publicX },
        }),
      ),
    ).toBe("invalid");
    expect(await result(await rawToken(fixture.signer, fixture.kid, claims, { typ: "JWT" }))).toBe("invalid");
    expect(await result(await rawToken(fixture.signer, fixture.kid, { ...claims, type: 2 }))).toBe("invalid");
  });

  it("refuses an expired code (expired_code) and a future-dated one (invalid)", async () => {
    const now = Date.now();
    const base = { ticketId: fixture.ticketId, eventId: fixture.eventId };
    expect(
      await result(await rawToken(fixture.signer, fixture.kid, { ...base, iat: now - 600_000, exp: now - 300_000 })),
    ).toBe("expired_code");
    expect(
      await result(await rawToken(fixture.signer, fixture.kid, { ...base, iat: now + 120_000, exp: now + 420_000 })),
    ).toBe("invalid");
    expect(await result(await rawToken(fixture.signer, fixture.kid, { ...base, iat: now, exp: now - 1000 }))).toBe(
      "invalid",
    );
  });

  it("refuses another event's code (wrong_event) even though its signature is good", async () => {
    const { event: other } = await gateEvent();
    const [foreign] = await issueTickets(other.id, 1);
    if (!foreign) throw new Error("no ticket");
    expect(await result(await qrToken(foreign.id, foreign.holder.token))).toBe("wrong_event");
  });

  it("none of the refused tokens redeemed anything; every one of them is in the scan log", async () => {
    expect((await inventory(fixture.eventId).stats()).checkedIn).toBe(0);
    const logged = await objectRows<{ result: string; n: number }>(
      fixture.eventId,
      "SELECT result, COUNT(*) AS n FROM gate_scans GROUP BY result ORDER BY result",
    );
    expect(logged).toEqual([
      { result: "expired_code", n: 1 },
      { result: "invalid", n: 15 },
      { result: "wrong_event", n: 1 },
    ]);
    expect(await result(fixture.good)).toBe("admitted");
  });

  it("tolerates ±30 s of clock skew, to the second: iat 30 s ahead and exp 30 s behind pass, 31 s do not", async () => {
    const { signer, verifiers } = await testKeyRing();
    const now = Date.UTC(2027, 2, 14, 19, 0, 0);
    const skewSeconds = LIMITS.ticketTokenSkewSeconds;
    const mint = (iat: number, exp: number) =>
      signTicketToken(signer, { ticketId: fixture.ticketId, eventId: fixture.eventId, issuedAt: iat, expiresAt: exp });
    const check = async (iat: number, exp: number) => {
      const verdict = await verifyTicketToken(verifiers, await mint(iat, exp), { at: now, skewSeconds });
      return verdict.ok ? "ok" : verdict.result;
    };
    expect(await check(now + 30_000, now + 330_000)).toBe("ok");
    expect(await check(now + 31_000, now + 331_000)).toBe("invalid");
    expect(await check(now - 330_000, now - 29_000)).toBe("ok");
    expect(await check(now - 330_000, now - 30_000)).toBe("expired_code");
  });
});
