/**
 * What a backup of D1 would show about a person: after signing up, verifying, buying a ticket and
 * tipping a creator through Stripe (its webhook payload carries their address), every TEXT value of
 * every D1 table is searched for their email and their name.
 *
 * - The email is found nowhere, except the development mailbox (written only outside production,
 *   docs/privacy.md).
 * - Nor is the name (also written into the tip's message and the emails), except in the same mailbox.
 * - No phone number is collected anywhere, so there is none to find.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { call, json, postSettled } from "../../helpers";
import { rows } from "../../support/db";
import { givePayoutAccount } from "../../support/payouts";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { bearer, login, mailbox } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, order } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => vi.restoreAllMocks());

/** Every (table, column) of D1 holding a TEXT value that contains `needle` (case-insensitive). */
async function placesHolding(needle: string): Promise<string[]> {
  const tables = await rows<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations'",
  );
  const found = new Set<string>();
  const lower = needle.toLowerCase();
  for (const { name } of tables) {
    for (const row of await rows<Record<string, unknown>>(`SELECT * FROM "${name}"`)) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value === "string" && value.toLowerCase().includes(lower)) found.add(`${name}.${column}`);
      }
    }
  }
  return [...found].sort();
}

describe("personal data at rest", () => {
  it("after sign-up, an order and a tip, no D1 table holds the person's email or name outside the development mailbox", async () => {
    const email = `zq-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const name = "Quintessa Zephyrine";
    const password = "violet-otter-marmalade";

    // Sign up, confirm the address from the emailed link, sign in.
    expect((await postSettled(env, "/api/v1/auth/register", { email, password, name })).status).toBe(201);
    const link = (await mailbox(email)).find((m) => m.template === "verify-email")?.text.match(/token=([\w-]+)/)?.[1];
    expect(link).toBeTruthy();
    const verified = await call("/api/v1/auth/verify-email", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: link, password }),
    });
    expect(verified.status).toBe(200);
    const { accessToken } = await login(email, password);

    // A free ticket, with its confirmation email.
    const host = await hostWithToken();
    const event = await createEvent(host.token, { title: "Harbour Lights" });
    expect((await order(event.id, accessToken)).status).toBe(201);

    // A tip to a creator, paid through Stripe; the payload Stripe posts back names the fan's address.
    const h = new PaymentsHarness();
    const [creator] = await buyers(1);
    if (!creator) throw new Error("no creator");
    const handle = `c${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;
    await env.DB.prepare("INSERT INTO handles (handle_key, user_id, state, created_at) VALUES (?, ?, 'active', ?)")
      .bind(handle, creator.id, Date.now())
      .run();
    await givePayoutAccount(creator.id, { chargesEnabled: true });
    const tipped = await h.fetch(`/api/v1/profiles/${handle}/tips`, {
      method: "POST",
      token: accessToken,
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ amount: 500, currency: "USD", message: `With love, ${name}` }),
    });
    expect(tipped.status).toBe(201);
    const { checkoutUrl } = await json<{ checkoutUrl: string }>(tipped);
    const session = stripe.sessionByUrl(checkoutUrl);
    const paid = stripeEvent("checkout.session.completed", stripe.pay(session.id));
    expect(JSON.stringify(paid)).toContain(email);
    expect((await h.webhook(paid)).status).toBe(200);
    await h.drain();
    expect(await rows("SELECT status FROM tips WHERE checkout_session_id = ?", session.id)).toEqual([
      { status: "succeeded" },
    ]);
    // Everything settled that writes: the order's projection, the emails, the Stripe event.
    await call(`/api/v1/me/tickets`, { headers: bearer(accessToken) });

    expect(await placesHolding(email)).toEqual(["dev_mailbox.to"]);
    expect(await placesHolding(name)).toEqual(["dev_mailbox.html", "dev_mailbox.text"]);
    // Sign-in by email still works with the address sealed.
    expect((await login(email, password)).accessToken).toEqual(expect.any(String));
  });
});
