/** GET /api/v1/events/:id/analytics: owner only, figures from the read model, last good answer on D1 failure. */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOfResponse } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, DAY, hostWithToken, inventory, order } from "./helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

interface Figures {
  ticketCount: number;
  checkedInCount: number;
  revenue: number;
  currency: string;
  attendeesByDate: { date: string; count: number }[];
  checkInRate: number;
  generatedAt: string;
  stale: boolean;
}

function analytics(eventId: string, token?: string) {
  return call(`/api/v1/events/${eventId}/analytics`, { headers: token ? bearer(token) : {} });
}

/** D1 whose batch() fails (the analytics queries) while single statements (session checks) still work. */
const brokenDb = new Proxy(env.DB, {
  get(target, property) {
    if (property === "batch") return () => Promise.reject(new Error("D1 is unavailable"));
    const value = Reflect.get(target, property, target);
    return typeof value === "function" ? value.bind(target) : value;
  },
});
const brokenEnv = { ...env, DB: brokenDb };
const app = createApp();

function analyticsWithBrokenD1(eventId: string, token: string) {
  return app.request(
    `/api/v1/events/${eventId}/analytics`,
    { headers: { ...bearer(token), "CF-Connecting-IP": freshIp() } },
    brokenEnv,
  );
}

async function claim(eventId: string) {
  const [buyer] = await buyers(1);
  if (!buyer) throw new Error("no buyer");
  const res = await order(eventId, buyer.token);
  if (res.status !== 201) throw new Error(`claim: ${res.status} ${await res.text()}`);
  return { buyer, body: (await res.json()) as { order: { id: string } } };
}

describe("event analytics", () => {
  it("the owner gets ticket count, check-ins, revenue, currency, attendees per UTC day and the check-in rate", async () => {
    const t0 = Date.UTC(2031, 2, 10, 23, 58);
    freezeClock(t0);
    const host = await hostWithToken();
    const event = await createEvent(host.token, {
      capacity: 10,
      currency: "EUR",
      startsAt: new Date(t0 + 10 * DAY).toISOString(),
      endsAt: new Date(t0 + 10 * DAY + 3_600_000).toISOString(),
    });

    const empty = await analytics(event.id, host.token);
    expect(empty.status).toBe(200);
    expect(await empty.json()).toMatchObject({ ticketCount: 0, attendeesByDate: [], checkInRate: 0, stale: false });

    await claim(event.id); // 2031-03-10, 23:58 UTC
    setClock(Date.UTC(2031, 2, 11, 0, 1));
    await claim(event.id);
    await claim(event.id);
    const givenBack = await claim(event.id);
    const cancel = await call(`/api/v1/orders/${givenBack.body.order.id}/cancel`, {
      method: "POST",
      headers: bearer(givenBack.buyer.token),
    });
    expect(cancel.status).toBe(200);

    const res = await analytics(event.id, host.token);
    expect(res.status).toBe(200);
    const figures = (await res.json()) as Figures;
    expect(figures).toEqual({
      ticketCount: 3,
      checkedInCount: 0,
      revenue: 0,
      currency: "EUR",
      attendeesByDate: [
        { date: "2031-03-10", count: 1 },
        { date: "2031-03-11", count: 2 },
      ],
      checkInRate: 0,
      generatedAt: new Date(Date.UTC(2031, 2, 11, 0, 1)).toISOString(),
      stale: false,
    });
  });

  it("is for the owner only: another host 403 (published) or 404 (draft), an attendee 403, anonymous 401", async () => {
    const owner = await hostWithToken();
    const other = await hostWithToken();
    const published = await createEvent(owner.token);
    const draft = await createEvent(owner.token, {}, false);
    const [attendee] = await buyers(1);
    if (!attendee) throw new Error("no attendee");

    const cases: [Response, number, string][] = [
      [await analytics(published.id, other.token), 403, "forbidden"],
      [await analytics(published.id, attendee.token), 403, "forbidden"],
      [await analytics(draft.id, other.token), 404, "not-found"],
      [await analytics("no-such-event", other.token), 404, "not-found"],
      [await analytics(published.id), 401, "unauthorized"],
    ];
    for (const [res, status, code] of cases) {
      expect(res.status).toBe(status);
      expect(await codeOfResponse(res)).toBe(code);
    }
    expect((await analytics(draft.id, owner.token)).status).toBe(200);
  });

  it("when D1 fails the last good answer comes back marked stale: true; without one the answer is 503", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10 });
    await claim(event.id);
    const good = (await (await analytics(event.id, host.token)).json()) as Figures;
    expect(good).toMatchObject({ ticketCount: 1, stale: false });

    await claim(event.id);
    await inventory(event.id).sync();
    const logs = captureLogs();
    const degraded = await analyticsWithBrokenD1(event.id, host.token);
    expect(degraded.status).toBe(200);
    expect(await degraded.json()).toEqual({ ...good, stale: true });

    // D1 back: fresh figures again.
    expect(await (await analytics(event.id, host.token)).json()).toMatchObject({ ticketCount: 2, stale: false });

    const neverAsked = await createEvent(host.token);
    const unavailable = await analyticsWithBrokenD1(neverAsked.id, host.token);
    expect(unavailable.status).toBe(503);
    expect((await problemOf(unavailable)).type).toMatch(/\/unavailable$/);
    expect(unavailable.headers.get("Retry-After")).toBe("5");
    expect(logs.entries("analytics degraded to cached answer", "warn")).toHaveLength(2);
  });
});
