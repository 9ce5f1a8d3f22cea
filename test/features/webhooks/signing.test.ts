/**
 * Our Standard Webhooks signatures against the reference library's own: the same `v1,<base64>` for the
 * same id, timestamp and body, one per secret during a rotation, and secrets it accepts.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newSigningSecret, signatureHeader, signingSecrets } from "../../../src/features/webhooks/signing";

describe("webhook signing (Standard Webhooks v1)", () => {
  it("signs `{id}.{timestamp}.{body}` exactly as the reference library does", async () => {
    const secret = newSigningSecret();
    const id = "msg_order.created_abc";
    const timestamp = 1_767_225_600;
    const body = JSON.stringify({ type: "order.created", timestamp: "2026-01-01T00:00:00.000Z", data: { é: "ü" } });
    expect(await signatureHeader([secret], id, timestamp, body)).toBe(
      new Webhook(secret).sign(id, new Date(timestamp * 1000), body),
    );
  });

  it("carries one signature per secret, space-separated, the current one first", async () => {
    const current = newSigningSecret();
    const previous = newSigningSecret();
    const header = await signatureHeader([current, previous], "msg_x", 1_767_225_600, "{}");
    const at = new Date(1_767_225_600 * 1000);
    expect(header).toBe(
      `${new Webhook(current).sign("msg_x", at, "{}")} ${new Webhook(previous).sign("msg_x", at, "{}")}`,
    );
  });

  it("signs with the previous secret only until the overlap ends", () => {
    const endpoint = { secret: "whsec_new", previousSecret: "whsec_old", previousSecretExpiresAt: 1_000 };
    expect(signingSecrets(endpoint, 999)).toEqual(["whsec_new", "whsec_old"]);
    expect(signingSecrets(endpoint, 1_000)).toEqual(["whsec_new"]);
    expect(signingSecrets({ ...endpoint, previousSecret: null, previousSecretExpiresAt: null }, 0)).toEqual([
      "whsec_new",
    ]);
  });

  it("makes a fresh whsec_ secret of 24 random bytes each time", () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newSigningSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
      expect(atob(secret.slice(6))).toHaveLength(24);
    }
  });
});
