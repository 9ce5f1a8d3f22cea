import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { call, problemOf } from "../../helpers";
import { jpeg } from "../../lib/image/fixtures";
import { codeOf } from "../../support/db";
import { bearer } from "../auth/helpers";
import { createEvent, d1Event, hostWithToken } from "../events/helpers";
import { fetchSigned, mediaRow, nowSeconds, upload, userWithToken } from "./helpers";

function getUrl(id: string, token?: string) {
  return call(`/api/v1/media/${id}`, { headers: token ? bearer(token) : {} });
}

async function expectHidden(res: Response) {
  expect(res.status).toBe(404);
  expect(codeOf(await problemOf(res))).toBe("not-found");
}

describe("GET /api/v1/media/:id: who may get a URL", () => {
  it("the owner gets a fresh signed URL valid for 5 minutes; other users and anonymous callers get 404", async () => {
    const owner = await userWithToken();
    const other = await userWithToken();
    const media = await upload(owner.token, jpeg());
    const res = await getUrl(media.id, owner.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toContain("no-store");
    const { url, expiresAt } = (await res.json()) as { url: string; expiresAt: string };
    const life = Date.parse(expiresAt) / 1000 - nowSeconds();
    expect(life).toBeGreaterThan(LIMITS.mediaPrivateUrlSeconds - 5);
    expect(life).toBeLessThanOrEqual(LIMITS.mediaPrivateUrlSeconds);
    expect((await fetchSigned(url)).status).toBe(200);
    await expectHidden(await getUrl(media.id, other.token));
    await expectHidden(await getUrl(media.id));
    await expectHidden(await getUrl("no-such-media", owner.token));
  });

  it("a document is visible to its owner and admins only", async () => {
    const owner = await userWithToken();
    const admin = await userWithToken(["attendee", "admin"]);
    const host = await hostWithToken();
    const doc = await upload(owner.token, jpeg(), { purpose: "document" });
    expect((await getUrl(doc.id, admin.token)).status).toBe(200);
    await expectHidden(await getUrl(doc.id, host.token));
    await expectHidden(await getUrl(doc.id));
  });

  it("public media (an avatar) is visible to anyone, with a longer URL life rounded to the hour", async () => {
    const owner = await userWithToken();
    const avatar = await upload(owner.token, jpeg(), { purpose: "avatar", visibility: "public" });
    const res = await getUrl(avatar.id);
    expect(res.status).toBe(200);
    const { url, expiresAt } = (await res.json()) as { url: string; expiresAt: string };
    const exp = Date.parse(expiresAt) / 1000;
    expect(exp % 3600).toBe(0);
    expect(exp - nowSeconds()).toBeGreaterThanOrEqual(LIMITS.mediaPublicUrlSeconds);
    const bytes = await fetchSigned(url);
    expect(bytes.status).toBe(200);
    expect(bytes.headers.get("Cache-Control")).toMatch(/^public, max-age=\d+$/);
  });

  it("a published event's cover is visible to anyone; a draft's is not", async () => {
    const host = await hostWithToken();
    const cover = await upload(host.token, jpeg(), { purpose: "event_cover" });
    const event = await createEvent(host.token, { title: "With a cover" }, false);
    const setCover = await call(`/api/v1/events/${event.id}`, {
      method: "PATCH",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ coverMediaId: cover.id, version: event.version }),
    });
    expect(setCover.status).toBe(200);
    await expectHidden(await getUrl(cover.id));
    const publish = await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(host.token) });
    expect(publish.status).toBe(200);
    const res = await getUrl(cover.id);
    expect(res.status).toBe(200);
    // Reached through the event rule, not public visibility: short life, private caching.
    const { url } = (await res.json()) as { url: string };
    expect((await fetchSigned(url)).headers.get("Cache-Control")).toMatch(/^private, max-age=\d+$/);
  });

  it("a host cannot expose someone else's image by naming it as their published event's cover", async () => {
    const victim = await userWithToken();
    const host = await hostWithToken();
    const private_ = await upload(victim.token, jpeg(), { purpose: "event_cover" });
    const event = await createEvent(host.token, { coverMediaId: private_.id });
    expect((await d1Event(event.id))?.cover_media_id).toBe(private_.id);
    await expectHidden(await getUrl(private_.id));
    await expectHidden(await getUrl(private_.id, host.token));
  });
});

describe("DELETE /api/v1/media/:id", () => {
  it("the owner deletes the row and the R2 object (204); the old signed URL then answers 404", async () => {
    const owner = await userWithToken();
    const media = await upload(owner.token, jpeg());
    const key = (await mediaRow(media.id))!.r2_key;
    const res = await call(`/api/v1/media/${media.id}`, { method: "DELETE", headers: bearer(owner.token) });
    expect(res.status).toBe(204);
    expect(await mediaRow(media.id)).toBeNull();
    expect(await env.MEDIA.head(key)).toBeNull();
    const after = await fetchSigned(media.url);
    expect(after.status).toBe(404);
    await expectHidden(await getUrl(media.id, owner.token));
  });

  it("anyone else (even an admin) gets 404 and nothing is deleted; anonymous gets 401", async () => {
    const owner = await userWithToken();
    const other = await userWithToken();
    const admin = await userWithToken(["attendee", "admin"]);
    const media = await upload(owner.token, jpeg());
    const key = (await mediaRow(media.id))!.r2_key;
    for (const token of [other.token, admin.token]) {
      await expectHidden(await call(`/api/v1/media/${media.id}`, { method: "DELETE", headers: bearer(token) }));
    }
    expect((await call(`/api/v1/media/${media.id}`, { method: "DELETE" })).status).toBe(401);
    expect(await mediaRow(media.id)).not.toBeNull();
    expect(await env.MEDIA.head(key)).not.toBeNull();
  });
});
