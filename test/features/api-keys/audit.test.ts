/**
 * Every use of a write scope is audited: each request a key makes under events:write leaves an
 * audit_log row with the key, the host, the method and route, the status and the outcome. Reads do
 * not, and neither do sessions (their writes are theirs to audit).
 */
import { describe, expect, it } from "vitest";
import { call } from "../../helpers";
import { rows } from "../../support/db";
import { bearer } from "../auth/helpers";
import { createEvent, eventBody } from "../events/helpers";
import { hostWithKey, withKey } from "./helpers";

interface AuditRow {
  user_id: string;
  outcome: string;
  request_id: string;
  ip_hash: string | null;
  detail: string;
}

const keyWrites = (hostId: string) =>
  rows<AuditRow>("SELECT * FROM audit_log WHERE user_id = ? AND action = 'api-key.write' ORDER BY at, rowid", hostId);

describe("auditing write scopes", () => {
  it("each events:write request leaves a row: key, host, method, route, path, status, outcome", async () => {
    const { host, key } = await hostWithKey(["events:write", "events:read"]);
    const created = await withKey(key.key, "/api/v1/events", { method: "POST", body: JSON.stringify(eventBody()) });
    expect(created.status).toBe(201);
    const event = (await created.json()) as { id: string; version: number };
    // A refused write (a stale version) and a write to another host's event are recorded too.
    const stale = await withKey(key.key, `/api/v1/events/${event.id}`, {
      method: "PATCH",
      body: JSON.stringify({ title: "x", version: event.version + 5 }),
    });
    expect(stale.status).toBe(409);
    const other = await hostWithKey();
    const foreign = await createEvent(other.host.token);
    expect((await withKey(key.key, `/api/v1/events/${foreign.id}/cancel`, { method: "POST" })).status).toBe(404);
    // Reads under events:read and the host's own session writes add no row.
    expect((await withKey(key.key, `/api/v1/events/${event.id}`)).status).toBe(200);
    expect(
      (await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(host.token) })).status,
    ).toBe(200);

    const audited = await keyWrites(host.id);
    expect(audited.map((a) => [a.outcome, JSON.parse(a.detail)])).toEqual([
      [
        "success",
        {
          apiKeyId: key.id,
          scope: "events:write",
          method: "POST",
          route: "/api/v1/events",
          path: "/api/v1/events",
          status: 201,
        },
      ],
      [
        "failure",
        {
          apiKeyId: key.id,
          scope: "events:write",
          method: "PATCH",
          route: "/api/v1/events/:id",
          path: `/api/v1/events/${event.id}`,
          status: 409,
        },
      ],
      [
        "denied",
        {
          apiKeyId: key.id,
          scope: "events:write",
          method: "POST",
          route: "/api/v1/events/:id/cancel",
          path: `/api/v1/events/${foreign.id}/cancel`,
          status: 404,
        },
      ],
    ]);
    for (const row of audited) {
      expect(row.request_id).toEqual(expect.any(String));
      expect(row.ip_hash).toEqual(expect.any(String));
      expect(row.detail).not.toContain(key.key);
    }
  });
});
