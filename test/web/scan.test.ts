/**
 * The scanner app /scan, server side: the one page allowed the camera (and WebAssembly, for the
 * fallback decoder); an installable manifest; a service worker served with the scope and CSP it needs
 * and a shell list that the server actually serves; the page within its byte budget; the device's
 * own info route; and the app's offline token check agreeing with the server's token format.
 * The flow in a real browser (pairing, camera, offline queue, sync) is e2e/scanner.spec.ts.
 */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a browser module (plain JavaScript; the project's TypeScript does not read JS)
import * as verify from "../../public/assets/scan/verify.js";
import { signTicketToken } from "../../src/features/gate/token";
import { SERVICE_WORKER_CSP } from "../../src/web/pages/scan";
import { bearer } from "../features/auth/helpers";
import {
  deviceAuth,
  gateEvent,
  issueTickets,
  qrToken,
  registerDevice,
  scan,
  testKeyRing,
} from "../features/gate/helpers";
import { call } from "../helpers";
import { Browser, textOf } from "./browser";

interface VerifyModule {
  checkToken(
    token: string,
    options: { jwks: unknown; eventRef: string; at: number; skewSeconds: number },
  ): Promise<{ ok: boolean; result?: string; ticketId?: string; expiresAt?: number }>;
  decideOffline(input: {
    row?: { id: string; serial: number; status: string; redeemedAt: string | null };
    local?: { at: number };
    manifest: { eventStatus: string | null; checkIn: { opensAt: string | null; closesAt: string | null } };
    at: number;
  }): { result: string; firstScan?: { at: number | string; here?: boolean } };
}
const browserVerify = verify as VerifyModule;

const BUDGET = 50 * 1024;
const MINUTE = 60_000;

async function fetchText(path: string) {
  const response = await call(path);
  return { response, text: await response.text() };
}

describe("the /scan page", () => {
  it("is the one page with camera permission and WebAssembly; it loads its script with the nonce and links the manifest", async () => {
    const page = await new Browser().get("/scan");
    expect(page.status).toBe(200);
    expect(page.headers.get("Permissions-Policy")).toContain("camera=(self)");
    const csp = page.headers.get("Content-Security-Policy") ?? "";
    const nonce = /'nonce-([A-Za-z0-9_-]+)'/.exec(csp)?.[1];
    expect(csp).toMatch(/script-src 'nonce-[^']+' 'strict-dynamic' 'wasm-unsafe-eval'/);
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toMatch(/'unsafe-eval'/);
    expect(page.html).toContain(`<script nonce="${nonce}" src="/assets/scan.js" defer`);
    expect(page.html).toContain('<link rel="manifest" href="/assets/scan/manifest.webmanifest"');
    expect(page.html).toContain('href="/assets/scan.css"');
    expect(page.html).not.toMatch(/style="|onclick=|<script>(?!<\/script>)/);
    const text = textOf(page.html);
    expect(text).toContain("Pair this device");
    expect(text).toContain("Device token or pairing link");
    // The answer overlay is announced.
    expect(page.html).toMatch(/id="result"[^>]*role="alert"/);

    for (const other of ["/no-such-page", "/login"]) {
      const elsewhere = await new Browser().get(other);
      expect(elsewhere.headers.get("Permissions-Policy"), other).toContain("camera=()");
      expect(elsewhere.headers.get("Content-Security-Policy"), other).not.toContain("wasm-unsafe-eval");
    }
  });

  it("has a valid web app manifest: name, standalone, start URL and scope /scan, PNG icons of 192 and 512 pixels", async () => {
    const { response, text } = await fetchText("/assets/scan/manifest.webmanifest");
    expect(response.status).toBe(200);
    const manifest = JSON.parse(text) as Record<string, unknown> & {
      icons: { src: string; sizes: string; type: string }[];
    };
    expect(manifest).toMatchObject({
      name: "Gatehouse Scanner",
      short_name: "Scanner",
      start_url: "/scan",
      scope: "/scan",
      display: "standalone",
    });
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
    expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i);
    for (const size of [192, 512]) {
      const icon = manifest.icons.find((i) => i.sizes === `${size}x${size}` && i.type === "image/png");
      expect(icon, `${size} icon`).toBeDefined();
      const png = await call(icon?.src ?? "");
      expect(png.status).toBe(200);
      expect(png.headers.get("Content-Type")).toBe("image/png");
      const bytes = new Uint8Array(await png.arrayBuffer());
      // PNG signature, then the IHDR chunk's width and height.
      expect([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join("")).toBe("PNG");
      const view = new DataView(bytes.buffer);
      expect([view.getUint32(16), view.getUint32(20)]).toEqual([size, size]);
    }
  });

  it("serves its service worker from /scan/sw.js as JavaScript allowed to control /scan, with a CSP that lets it fetch the shell", async () => {
    const { response, text } = await fetchText("/scan/sw.js");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/javascript/);
    expect(response.headers.get("Service-Worker-Allowed")).toBe("/scan");
    expect(response.headers.get("Cache-Control")).toBe("no-cache");
    expect(response.headers.get("Content-Security-Policy")).toBe(SERVICE_WORKER_CSP);
    expect(SERVICE_WORKER_CSP).toContain("connect-src 'self'");
    expect(text).toContain('addEventListener("fetch"');

    // Every file the worker precaches is served: one missing file would fail its install.
    const list = (name: string) => {
      const body = new RegExp(`const ${name} = \\[([^\\]]*)\\]`).exec(text)?.[1] ?? "";
      return [...body.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
    };
    const shell = list("SHELL");
    const decoder = list("DECODER");
    expect(shell).toEqual(
      expect.arrayContaining(["/scan", "/assets/scan.js", "/assets/scan/app.js", "/assets/scan.css"]),
    );
    expect(decoder.some((p) => p.endsWith(".wasm"))).toBe(true);
    for (const path of [...shell, ...decoder]) expect((await call(path)).status, path).toBe(200);
    // …and every module the app imports is in the shell, or the app would not open offline.
    const app = await fetchText("/assets/scan/app.js");
    const modules = [...app.text.matchAll(/(?:from |import\()"\.\/([a-z-]+\.js)"/g)].map((m) => `/assets/scan/${m[1]}`);
    expect(modules).toEqual(expect.arrayContaining(["/assets/scan/store.js", "/assets/scan/verify.js"]));
    for (const m of modules) expect(shell).toContain(m);
  });

  it("stays within the page budget (the HTML, CSS and JS it starts with; camera, offline check and decoder load when first needed); the decoder is self-hosted", async () => {
    const page = await new Browser().get("/scan");
    const sizes: Record<string, number> = { "/scan": new TextEncoder().encode(page.html).length };
    const assets = [
      ...[...page.html.matchAll(/<(?:script|link)[^>]+(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map(
        (m) => m[1] as string,
      ),
    ];
    expect(assets).toEqual(expect.arrayContaining(["/assets/app.css", "/assets/scan.css", "/assets/scan.js"]));
    // The entry loads the app's module, which imports others: those it needs to start count; those it
    // imports when first needed (camera, offline check) are listed apart, like the decoder.
    const lazy: Record<string, number> = {};
    const queue = [...assets];
    const seen = new Set<string>();
    const resolve = (ref: string, from: string) =>
      ref.startsWith("./") ? new URL(ref, `https://x${from}`).pathname : ref;
    while (queue.length) {
      const path = queue.shift() as string;
      if (seen.has(path)) continue;
      seen.add(path);
      const { response, text } = await fetchText(path);
      expect(response.status, path).toBe(200);
      sizes[path] = new TextEncoder().encode(text).length;
      if (!path.endsWith(".js")) continue;
      for (const m of text.matchAll(/import\("(\.\/[a-z-]+\.js|\/assets\/scan\/[a-z-]+\.js)"\)/g)) {
        const ref = resolve(m[1] as string, path);
        // The entry's own import() of the app is how the app starts: it counts.
        if (path === "/assets/scan.js") queue.push(ref);
        else lazy[ref] = new TextEncoder().encode((await fetchText(ref)).text).length;
      }
      for (const m of text.matchAll(/from "(\.\/[a-z-]+\.js)"/g)) queue.push(resolve(m[1] as string, path));
    }
    expect(Object.keys(sizes)).toEqual(expect.arrayContaining(["/assets/scan/app.js", "/assets/scan/store.js"]));
    expect(Object.keys(lazy).sort()).toEqual(["/assets/scan/camera.js", "/assets/scan/verify.js"]);
    for (const path of Object.keys(lazy)) expect(sizes[path], `${path} is loaded lazily only`).toBeUndefined();
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    expect(total, JSON.stringify(sizes)).toBeLessThanOrEqual(BUDGET);
    expect(Object.values(lazy).reduce((a, b) => a + b, 0)).toBeLessThan(12 * 1024);

    // The fallback decoder, fetched only where the browser has no BarcodeDetector: ~60 KB of script
    // and ~1.1 MB of WebAssembly, served from here (no CDN), the wasm with its media type.
    const script = await call("/assets/vendor/barcode-detector/zxing-exported.js");
    expect(script.status, "run node scripts/vendor-assets.mjs").toBe(200);
    expect((await script.arrayBuffer()).byteLength).toBeLessThan(100 * 1024);
    const wasm = await call("/assets/vendor/zxing-wasm/zxing_reader.wasm");
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get("Content-Type")).toBe("application/wasm");
    const wasmBytes = new Uint8Array(await wasm.arrayBuffer());
    expect([...wasmBytes.subarray(0, 4)]).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(wasmBytes.length).toBeLessThan(2 * 1024 * 1024);
    const camera = await fetchText("/assets/scan/camera.js");
    expect(camera.text).toContain("/assets/vendor");
    expect(camera.text).not.toMatch(/https?:\/\//);
  });
});

describe("GET /api/v1/scanner/device", () => {
  it("tells a paired device its name, event and the gate's check-in count, which follows admissions", async () => {
    const { host, event } = await gateEvent({ title: "Harbour Night" });
    const device = await registerDevice(event.id, host.token, "steward", "North gate 1");
    const info = await call("/api/v1/scanner/device", { headers: deviceAuth(device.token) });
    expect(info.status).toBe(200);
    expect(info.headers.get("Cache-Control")).toBe("no-store");
    const body = (await info.json()) as Record<string, unknown> & { event: Record<string, unknown> };
    expect(body).toMatchObject({
      deviceId: device.deviceId,
      name: "North gate 1",
      role: "steward",
      event: { id: event.id, title: "Harbour Night", venueName: "De Kade", status: "published" },
      gate: { checkedIn: 0 },
      skewSeconds: 30,
    });
    expect(Date.parse(String(body.event.checkInOpensAt))).toBeLessThan(Date.now());

    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const answer = await scan(device.token, await qrToken(ticket.id, ticket.holder.token));
    expect(((await answer.json()) as { result: string }).result).toBe("admitted");
    const after = (await (await call("/api/v1/scanner/device", { headers: deviceAuth(device.token) })).json()) as {
      gate: { checkedIn: number; sold: number };
    };
    expect(after.gate).toEqual({ checkedIn: 1, sold: 1 });
  });

  it("refuses a revoked device, a made-up token, no credentials and a signed-in person", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const revoke = await call(`/api/v1/events/${event.id}/devices/${device.deviceId}`, {
      method: "DELETE",
      headers: bearer(host.token),
    });
    expect(revoke.status).toBe(204);
    expect((await call("/api/v1/scanner/device", { headers: deviceAuth(device.token) })).status).toBe(401);
    const madeUp = `gdt_${"A".repeat(43)}`;
    expect((await call("/api/v1/scanner/device", { headers: deviceAuth(madeUp) })).status).toBe(401);
    expect((await call("/api/v1/scanner/device")).status).toBe(401);
    expect([401, 403]).toContain((await call("/api/v1/scanner/device", { headers: bearer(host.token) })).status);
  });
});

describe("the app's offline token check (public/assets/scan/verify.js)", () => {
  async function manifestOf(deviceToken: string, eventId: string) {
    const res = await call(`/api/v1/events/${eventId}/manifest`, { headers: deviceAuth(deviceToken) });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      eventRef: string;
      eventStatus: string | null;
      checkIn: { opensAt: string | null; closesAt: string | null };
      keys: { keys: { kid: string; x: string }[] };
      tickets: { id: string; serial: number; status: string; redeemedAt: string | null }[];
    };
  }

  it("accepts a real ticket code of the device's event and reads its ticket id, as the server would", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const token = await qrToken(ticket.id, ticket.holder.token);
    const manifest = await manifestOf(device.token, event.id);
    const options = { jwks: manifest.keys, eventRef: manifest.eventRef, at: Date.now(), skewSeconds: 30 };

    const good = await browserVerify.checkToken(token, options);
    expect(good).toMatchObject({ ok: true, ticketId: ticket.id });
    const row = manifest.tickets.find((t) => t.id === good.ticketId);
    expect(browserVerify.decideOffline({ row, manifest, at: Date.now() })).toEqual({ result: "admitted" });

    // One character of the signature changed: refused.
    const last = token.at(-2) === "A" ? "B" : "A";
    const forged = `${token.slice(0, -2)}${last}${token.slice(-1)}`;
    expect(await browserVerify.checkToken(forged, options)).toMatchObject({ ok: false, result: "invalid" });
    // Another key set (a rotated-out or foreign key): refused.
    expect(
      await browserVerify.checkToken(token, {
        ...options,
        jwks: { keys: [{ ...manifest.keys.keys[0], kid: "other" }] },
      }),
    ).toMatchObject({ ok: false, result: "invalid" });
    // Shown after it expired (5 minutes + the skew): expired_code; another event's device: wrong_event.
    expect(await browserVerify.checkToken(token, { ...options, at: Date.now() + 6 * MINUTE })).toMatchObject({
      ok: false,
      result: "expired_code",
    });
    expect(await browserVerify.checkToken(token, { ...options, eventRef: "AAAAAAAAAAA" })).toMatchObject({
      ok: false,
      result: "wrong_event",
    });
    expect(await browserVerify.checkToken("not.a.token", options)).toMatchObject({ ok: false, result: "invalid" });
  });

  it("refuses a token whose header carries anything besides alg and kid, even with a good signature", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const manifest = await manifestOf(device.token, event.id);
    const { signer } = await testKeyRing();
    const now = Date.now();
    const token = await signTicketToken(signer, {
      ticketId: ticket.id,
      eventId: event.id,
      issuedAt: now - MINUTE,
      expiresAt: now + MINUTE,
    });
    const options = { jwks: manifest.keys, eventRef: manifest.eventRef, at: now, skewSeconds: 30 };
    expect(await browserVerify.checkToken(token, options)).toMatchObject({ ok: true });
    const { CompactSign } = await import("jose");
    const [, payload] = token.split(".");
    const bytes = Uint8Array.from(atob((payload ?? "").replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const extra = await new CompactSign(bytes)
      .setProtectedHeader({ alg: "EdDSA", kid: signer.kid, typ: "JWT" })
      .sign(signer.key);
    expect(await browserVerify.checkToken(extra, options)).toMatchObject({ ok: false, result: "invalid" });
  });

  it("decides offline from the manifest and the device's own admissions, in the server's order", () => {
    const at = Date.now();
    const manifest = {
      eventStatus: "published",
      checkIn: { opensAt: new Date(at - MINUTE).toISOString(), closesAt: new Date(at + MINUTE).toISOString() },
    };
    const row = (status: string, redeemedAt: string | null = null) => ({ id: "t", serial: 1, status, redeemedAt });
    const decide = (input: Partial<Parameters<VerifyModule["decideOffline"]>[0]>) =>
      browserVerify.decideOffline({ manifest, at, ...input });
    expect(decide({ row: row("active") }).result).toBe("admitted");
    expect(decide({ row: row("active"), local: { at: at - 5000 } })).toEqual({
      result: "already_redeemed",
      firstScan: { at: at - 5000, deviceName: null, here: true },
    });
    const earlier = new Date(at - 30_000).toISOString();
    expect(decide({ row: row("redeemed", earlier) })).toEqual({
      result: "already_redeemed",
      firstScan: { at: earlier },
    });
    expect(decide({ row: row("void") }).result).toBe("not_active");
    expect(decide({ row: row("refunding") }).result).toBe("refund_pending");
    expect(decide({}).result).toBe("unverified");
    expect(decide({ row: row("active"), at: at + 2 * MINUTE }).result).toBe("outside_window");
    expect(decide({ row: row("active"), manifest: { ...manifest, eventStatus: "cancelled" } }).result).toBe(
      "not_active",
    );
  });
});
