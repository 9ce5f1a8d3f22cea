/**
 * Ticket-signing keys: rotation (current + previous verify, only current signs), the published
 * JWKS (public parts only, usable by a stock JOSE library offline), configuration that fails
 * closed in production, and the per-isolate development key.
 */
import { env } from "cloudflare:workers";
import { base64url, compactVerify, createLocalJWKSet } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { ConfigError, getConfig, type TicketSigningJwk } from "../../../src/config";
import { generateTicketSigningJwk, ticketKeyRing } from "../../../src/features/gate/keys";
import { freshIp, problemOf } from "../../helpers";
import { captureLogs } from "../../support/logs";
import { bearer } from "../auth/helpers";
import { deviceAuth, gateEvent, issueTickets, registerDevice, type ScanBody } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const app = createApp();
const scannerRaised = JSON.stringify({ scanner: { limit: 1_000_000, windowSeconds: 1 } });
const envWith = (keys: TicketSigningJwk[], extra: Record<string, unknown> = {}) => ({
  ...env,
  TICKET_SIGNING_KEYS: JSON.stringify(keys),
  RATE_LIMITS: scannerRaised,
  ...extra,
});
const request = (path: string, init: RequestInit, e: object) =>
  app.request(
    path,
    { ...init, headers: { "CF-Connecting-IP": freshIp(), ...(init.headers as Record<string, string>) } },
    e,
  );

async function qrUnder(e: object, ticketId: string, userToken: string) {
  const res = await request(`/api/v1/tickets/${ticketId}/qr`, { headers: bearer(userToken) }, e);
  if (res.status !== 200) throw new Error(`qr: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

async function scanUnder(e: object, deviceToken: string, token: string) {
  const res = await request(
    "/api/v1/scan",
    {
      method: "POST",
      headers: { ...deviceAuth(deviceToken), "Content-Type": "application/json" },
      body: JSON.stringify({ token, nonce: crypto.randomUUID() }),
    },
    e,
  );
  return ((await res.json()) as ScanBody).result;
}

const kidOf = (token: string) =>
  (JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[0] as string))) as { kid: string }).kid;

describe("key rotation", () => {
  it("codes signed by the previous key keep working while it is listed; new codes use the current key; retiring it ends the old codes", async () => {
    const k1 = await generateTicketSigningJwk("2026-10");
    const k2 = await generateTicketSigningJwk("2026-11");
    const before = envWith([k1]);
    const rotated = envWith([k2, k1]);
    const retired = envWith([k2]);

    const { host, event } = await gateEvent();
    const tickets = await issueTickets(event.id, 3);
    const device = await registerDevice(event.id, host.token);
    const [t1, t2, t3] = tickets as [(typeof tickets)[0], (typeof tickets)[0], (typeof tickets)[0]];

    const old1 = await qrUnder(before, t1.id, t1.holder.token);
    const old3 = await qrUnder(before, t3.id, t3.holder.token);
    expect(kidOf(old1)).toBe("2026-10");

    const new2 = await qrUnder(rotated, t2.id, t2.holder.token);
    expect(kidOf(new2)).toBe("2026-11");
    expect(await scanUnder(rotated, device.token, old1)).toBe("admitted");
    expect(await scanUnder(rotated, device.token, new2)).toBe("admitted");

    const jwks = await request("/api/v1/scanner/keys", { headers: deviceAuth(device.token) }, rotated);
    expect(jwks.status).toBe(200);
    const published = (await jwks.json()) as { keys: Record<string, unknown>[] };
    expect(published.keys).toEqual([
      { kty: "OKP", crv: "Ed25519", x: k2.x, kid: "2026-11", alg: "EdDSA", use: "sig" },
      { kty: "OKP", crv: "Ed25519", x: k1.x, kid: "2026-10", alg: "EdDSA", use: "sig" },
    ]);
    expect(JSON.stringify(published)).not.toContain(k1.d);
    expect(JSON.stringify(published)).not.toContain(k2.d);

    expect(await scanUnder(retired, device.token, old3)).toBe("invalid");
  });

  it("the published JWKS verifies a code with a stock JOSE library, as an offline device would", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);
    const keys = await request("/api/v1/scanner/keys", { headers: deviceAuth(device.token) }, env);
    expect(keys.headers.get("Cache-Control")).toBe("private, max-age=300");
    const jwks = createLocalJWKSet((await keys.json()) as Parameters<typeof createLocalJWKSet>[0]);
    const token = await qrUnder(env, ticket.id, ticket.holder.token);
    const { payload } = await compactVerify(token, jwks, { algorithms: ["EdDSA"] });
    expect(base64url.encode(payload.subarray(1, 17))).toBe(ticket.id);
    // The keys are for devices only.
    expect((await request("/api/v1/scanner/keys", { headers: bearer(host.token) }, env)).status).toBe(401);
  });
});

describe("TICKET_SIGNING_KEYS configuration", () => {
  const production = (extra: Record<string, unknown>) => {
    const { TICKET_SIGNING_KEYS: _omitted, ...rest } = env as unknown as Record<string, unknown>;
    return { ...rest, ENVIRONMENT: "production", ...extra };
  };
  const keysOfError = (e: object) => {
    try {
      getConfig(e);
    } catch (error) {
      if (error instanceof ConfigError) return { keys: error.keys, message: error.message };
      throw error;
    }
    return null;
  };

  it("is required in production: missing, malformed, too long a kid, duplicate kids or a missing d fail closed naming the key, not its value", async () => {
    const good = await generateTicketSigningJwk("2026-11");
    const cases: [string, string | undefined][] = [
      ["missing", undefined],
      ["not JSON", `[{"kid":"2026-11","d":"${good.d}"`],
      ["kid over 16 characters", JSON.stringify([{ ...good, kid: "a-very-long-key-id-2026" }])],
      ["duplicate kids", JSON.stringify([good, good])],
      ["no private key", JSON.stringify([{ kid: good.kid, kty: "OKP", crv: "Ed25519", x: good.x }])],
      ["a P-256 key", JSON.stringify([{ ...good, crv: "P-256" }])],
    ];
    for (const [name, raw] of cases) {
      const failure = keysOfError(production(raw === undefined ? {} : { TICKET_SIGNING_KEYS: raw }));
      expect(failure?.keys, name).toContain("TICKET_SIGNING_KEYS");
      expect(failure?.message, name).not.toContain(good.d);
    }
  });

  it("a key whose public half does not match its private half is refused on first use: 503 and a log line without the key", async () => {
    const a = await generateTicketSigningJwk("mismatch");
    const b = await generateTicketSigningJwk("other");
    const logs = captureLogs();
    const { event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const res = await request(
      `/api/v1/tickets/${ticket.id}/qr`,
      { headers: bearer(ticket.holder.token) },
      envWith([{ ...a, x: b.x }]),
    );
    expect(res.status).toBe(503);
    expect((await problemOf(res)).type).toMatch(/\/unavailable$/);
    const logged = logs.raw("error").join("\n");
    expect(logged).toContain("kid mismatch");
    expect(logged).not.toContain(a.d);
  });

  it("development without keys generates one Ed25519 key per isolate, shared by every config", async () => {
    const { TICKET_SIGNING_KEYS: _omitted, ...rest } = env as unknown as Record<string, unknown>;
    const one = await ticketKeyRing(getConfig({ ...rest, ENVIRONMENT: "development" }));
    const two = await ticketKeyRing(getConfig({ ...rest, ENVIRONMENT: "development", RATE_LIMITS: "" }));
    expect(one.signer.kid).toMatch(/^dev-/);
    expect(two.signer.kid).toBe(one.signer.kid);
    expect(one.jwks.keys).toEqual([
      expect.objectContaining({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", kid: one.signer.kid }),
    ]);
  });

  it("TICKET_TOKEN_TTL_SECONDS sets the code's lifetime (default 300 s) and is bounded", async () => {
    const { event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const lifetime = async (e: object) => {
      const res = await request(`/api/v1/tickets/${ticket.id}/qr`, { headers: bearer(ticket.holder.token) }, e);
      const body = (await res.json()) as { issuedAt: string; expiresAt: string };
      return (Date.parse(body.expiresAt) - Date.parse(body.issuedAt)) / 1000;
    };
    expect(await lifetime(env)).toBe(300);
    expect(await lifetime({ ...env, TICKET_TOKEN_TTL_SECONDS: "60" })).toBe(60);
    expect(keysOfError({ ...env, TICKET_TOKEN_TTL_SECONDS: String(2 * 24 * 3600) })?.keys).toEqual([
      "TICKET_TOKEN_TTL_SECONDS",
    ]);
  });
});
