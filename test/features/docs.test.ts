/**
 * /docs runs third-party code on the API's origin, next to cookie-authenticated routes. The attack: a
 * CDN (or whoever controls an unpinned "latest") serves a different script, or an injected inline
 * script runs under 'unsafe-inline'. Every external script and stylesheet must be pinned (exact version,
 * SRI integrity), allowed by its exact URL, and inline script only by a per-response nonce; no page the
 * Worker serves may allow 'unsafe-inline' script.
 */
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { call, devCall } from "../helpers";

/** The directives of a CSP header, by name. */
function directives(csp: string | null): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of (csp ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name.toLowerCase(), values);
  }
  return map;
}

/** The sources script runs under: script-src, or default-src when there is none (CSP3 §6.1.1). */
function scriptSources(csp: string | null): string[] {
  const all = directives(csp);
  return all.get("script-src") ?? all.get("default-src") ?? [];
}

/** Every <script …> and <link …> start tag, with its attributes. */
function tags(page: string): { name: string; attrs: Map<string, string> }[] {
  const found: { name: string; attrs: Map<string, string> }[] = [];
  for (const tag of page.matchAll(/<(script|link)\b([^>]*)>/gi)) {
    const attrs = new Map<string, string>();
    for (const attr of (tag[2] ?? "").matchAll(/([a-z-]+)(?:="([^"]*)")?/gi)) {
      attrs.set((attr[1] ?? "").toLowerCase(), attr[2] ?? "");
    }
    found.push({ name: (tag[1] ?? "").toLowerCase(), attrs });
  }
  return found;
}

describe("GET /docs", () => {
  it("loads no unpinned script: every external script and stylesheet has an exact version, SRI and crossorigin", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    const page = await res.text();
    const external = tags(page)
      .map((t) => ({
        ...t,
        url: t.attrs.get("src") ?? (t.attrs.get("rel") === "stylesheet" ? t.attrs.get("href") : ""),
      }))
      .filter((t) => t.url && /^(https?:)?\/\//.test(t.url));
    expect(external.map((t) => t.name).sort()).toEqual(["link", "script"]);
    for (const { url, attrs } of external) {
      // An exact x.y.z after the package name: no "latest", no range, no major-only tag.
      expect(url).toMatch(/^https:\/\/[^/]+\/npm\/[a-z0-9-]+@\d+\.\d+\.\d+\//);
      expect(attrs.get("integrity")).toMatch(/^sha(384|512)-[A-Za-z0-9+/]{64,}={0,2}$/);
      expect(attrs.get("crossorigin")).toBe("anonymous");
    }
  });

  it("allows script by a fresh nonce and the pinned URLs only: no 'unsafe-inline', no whole host", async () => {
    const [first, second] = await Promise.all([call("/docs"), call("/docs")]);
    const csp = first.headers.get("Content-Security-Policy");
    const sources = scriptSources(csp);
    expect(sources).not.toContain("'unsafe-inline'");
    expect(sources).not.toContain("'unsafe-eval'");
    const nonce = sources.find((s) => s.startsWith("'nonce-"))?.slice(7, -1) ?? "";
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(scriptSources(second.headers.get("Content-Security-Policy"))).not.toContain(`'nonce-${nonce}'`);
    expect(first.headers.get("Cache-Control")).toBe("no-store");

    const page = await first.text();
    const scripts = tags(page).filter((t) => t.name === "script");
    for (const script of scripts) {
      const src = script.attrs.get("src");
      // An external script is named in script-src by its exact URL; an inline one carries the nonce.
      if (src) expect(sources).toContain(src);
      else expect(script.attrs.get("nonce")).toBe(nonce);
    }
    // Hosts only with a path: a bare https://cdn… would let an injected tag load any package on it.
    for (const source of sources.filter((s) => s.startsWith("https:"))) expect(new URL(source).pathname).not.toBe("/");
    const styles = directives(csp).get("style-src") ?? [];
    expect(styles).not.toContain("'unsafe-inline'");
    expect(directives(csp).get("default-src")).toEqual(["'none'"]);
    expect(directives(csp).get("frame-ancestors")).toEqual(["'none'"]);
  });
});

describe("no page the Worker serves allows 'unsafe-inline' script", () => {
  it("every GET route (the /dev ones included), the not-found answer and /docs", async () => {
    const app = createApp({ devRoutes: true });
    const paths = new Set(["/docs", "/no-such-page", "/api/v1/no-such-route"]);
    for (const route of app.routes) {
      if (route.method !== "GET" || route.path.includes("*")) continue;
      paths.add(route.path.replace(/:[A-Za-z]+/g, "x"));
    }
    expect(paths.size).toBeGreaterThan(10);
    for (const path of paths) {
      const res = path.startsWith("/dev/") ? await devCall(path) : await call(path);
      await res.body?.cancel();
      const csp = res.headers.get("Content-Security-Policy");
      expect(csp, path).not.toBeNull();
      expect(scriptSources(csp), path).not.toContain("'unsafe-inline'");
    }
  });
});
