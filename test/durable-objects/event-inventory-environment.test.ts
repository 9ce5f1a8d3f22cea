/**
 * EventInventory reads the environment through src/config: ENVIRONMENT unset is production there as
 * in the Worker, so a deploy that forgets the variable does not copy order emails (ticket links)
 * into dev_mailbox. The object is built over the test object's own storage with the bindings each
 * case needs, the way workerd builds it with the deployed ones.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EventInventory } from "../../durable-objects/event-inventory";
import { configuredInventory, holdRequest } from "../features/events/helpers";
import { outboxEmails } from "../support/outbox";

/** Claims one ticket through an object whose env is `bindings`; its email rows in D1 afterwards. */
async function claimWith(bindings: object, buyer: string) {
  const { snapshot, stub } = await configuredInventory({ capacity: 5 });
  const request = holdRequest(snapshot, buyer);
  const email = request.contact?.email ?? "";
  const result = await runInDurableObject(stub, async (_instance, state) => {
    const inventory = new EventInventory(state, bindings as Env);
    const claimed = await inventory.claim(request);
    await inventory.sync();
    return claimed;
  });
  expect(result.ok).toBe(true);
  const outbox = { results: await outboxEmails({ to: email }) };
  const mirrored = await env.DB.prepare('SELECT id FROM dev_mailbox WHERE "to" = ?').bind(email).all<{ id: string }>();
  return { outbox: outbox.results.map((r) => r.id), mirrored: mirrored.results.length };
}

describe("EventInventory environment", () => {
  it("with ENVIRONMENT unset behaves as production: the order email is queued, never mirrored to dev_mailbox", async () => {
    const { ENVIRONMENT: _unset, ...bindings } = env;
    const { outbox, mirrored } = await claimWith(bindings, "unset-env");
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatch(/^order-confirmed:/);
    expect(mirrored).toBe(0);
  });

  it("with an unknown ENVIRONMENT also behaves as production", async () => {
    const { mirrored } = await claimWith({ ...env, ENVIRONMENT: "staging" }, "unknown-env");
    expect(mirrored).toBe(0);
  });

  it("with ENVIRONMENT=development mirrors the email for the dev mailbox", async () => {
    const { outbox, mirrored } = await claimWith({ ...env, ENVIRONMENT: "development" }, "dev-env");
    expect(outbox).toHaveLength(1);
    expect(mirrored).toBe(1);
  });
});
