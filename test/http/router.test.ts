/**
 * Every route of the app fits Hono's RegExpRouter (one precompiled expression per method). When a
 * route does not (for example a static GET path beside a param GET path at the same level), Hono's
 * SmartRouter silently falls back to the TrieRouter for the whole app, and every request, the gate's
 * scans and the on-sale's orders included, pays for a slower match.
 */
import { RegExpRouter } from "hono/router/reg-exp-router";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";

function refusal(routes: readonly { method: string; path: string }[]): string | null {
  const router = new RegExpRouter<number>();
  try {
    for (const [i, route] of routes.entries()) router.add(route.method, route.path, i);
    router.match("GET", "/");
    return null;
  } catch (error) {
    return String(error);
  }
}

describe("the app's routes", () => {
  it("all fit the RegExpRouter, with and without the development routes", () => {
    for (const app of [createApp(), createApp({ devRoutes: true })]) {
      expect(app.routes.length).toBeGreaterThan(100);
      expect(refusal(app.routes)).toBeNull();
    }
  });

  it("the check sees the shape that makes the router fall back", () => {
    expect(
      refusal([
        { method: "GET", path: "/host/events/new" },
        { method: "GET", path: "/host/events/:id" },
      ]),
    ).not.toBeNull();
  });
});
