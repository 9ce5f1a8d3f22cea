/**
 * The scanner app `/scan`: an installable PWA for gate devices (phones held by stewards). The page is
 * the app's shell; everything it does runs in public/assets/scan.js and its modules under
 * public/assets/scan/ (pairing, camera and decoder, online and offline checks, the queue of offline
 * scans and their sync), talking to the device API with `Authorization: Device <token>` (no cookie,
 * so no CSRF token). Here: the shell (the only page with camera permission and, for the fallback QR
 * decoder, WebAssembly) and the service worker, served from /scan/sw.js so its scope covers /scan.
 * The manifest and icons are static files in public/assets/scan/.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { render } from "../page";

export const SCANNER_MANIFEST = "/assets/scan/manifest.webmanifest";
/** The service worker's source in the assets; /scan/sw.js serves it with the scope it needs. */
export const SERVICE_WORKER_ASSET = "/assets/scan/sw.js";
/**
 * The service worker's own CSP (a worker obeys its script's response headers, not the page's): it
 * fetches the app shell and passes the app's API calls through, same origin only.
 */
export const SERVICE_WORKER_CSP = "default-src 'none'; connect-src 'self'; frame-ancestors 'none'";

function ScannerApp() {
  return (
    <div id="scanner" class="scanner">
      <p id="scan-loading" class="scan-loading">
        Starting the scanner…
      </p>
      <noscript>
        <p class="alert error">The scanner needs JavaScript. Turn it on in this browser's settings.</p>
      </noscript>

      <section id="pair-view" class="pair card" aria-labelledby="pair-title" hidden>
        <h1 id="pair-title">Pair this device</h1>
        <p>
          The event's host shows a pairing code for each scanner device. Scan it, or paste the device token or pairing
          link.
        </p>
        <button type="button" id="pair-scan" class="block">
          Scan pairing code
        </button>
        <div class="viewfinder" id="pair-viewfinder" hidden>
          <video id="pair-camera" muted playsinline aria-label="Camera view" />
        </div>
        <form id="pair-form" class="pair-form" novalidate>
          <div class="field">
            <label for="pair-token">Device token or pairing link</label>
            <input
              id="pair-token"
              name="token"
              type="text"
              autocomplete="off"
              autocapitalize="off"
              spellcheck={false}
              aria-describedby="pair-error"
              required
            />
            <p id="pair-error" class="field-error" aria-live="polite" />
          </div>
          <button type="submit" class="secondary block">
            Pair
          </button>
        </form>
      </section>

      <section id="scan-view" class="scan-view" aria-labelledby="scan-title" hidden>
        <div class="scan-bar">
          <div class="scan-who">
            <h1 id="scan-title">Scanner</h1>
            <p id="scan-device" class="muted small" />
          </div>
          <p id="net" class="net" role="status" data-online="true">
            Online
          </p>
        </div>
        <p id="scan-banner" class="alert error" role="alert" hidden />
        <dl class="counts">
          <div>
            <dt>This device</dt>
            <dd id="count-device">0</dd>
          </div>
          <div>
            <dt>Gate checked in</dt>
            <dd id="count-gate">–</dd>
          </div>
          <div>
            <dt>Waiting to sync</dt>
            <dd id="count-queue">0</dd>
          </div>
        </dl>
        <div class="viewfinder" id="viewfinder">
          <video id="camera" muted playsinline aria-label="Camera view" />
          <p id="camera-status" class="camera-status" aria-live="polite">
            Camera off
          </p>
        </div>
        <div class="actions scan-actions">
          <button type="button" id="camera-toggle">
            Start scanning
          </button>
          <button type="button" id="sync-now" class="secondary">
            Sync now
          </button>
        </div>
        <form id="manual-form" class="manual-form" novalidate>
          <label for="manual-token">Ticket code (if the camera cannot read it)</label>
          <div class="manual-row">
            <input
              id="manual-token"
              name="token"
              type="text"
              autocomplete="off"
              autocapitalize="off"
              spellcheck={false}
            />
            <button type="submit" class="secondary">
              Check
            </button>
          </div>
        </form>
        <section id="conflicts" class="conflicts" aria-labelledby="conflicts-title" hidden>
          <h2 id="conflicts-title">Conflicts found when syncing</h2>
          <p class="muted small">
            Admitted here offline, but also admitted elsewhere or refunded. The host sees them too.
          </p>
          <ul id="conflict-list" />
          <button type="button" id="conflicts-clear" class="link">
            Clear this list
          </button>
        </section>
        <details class="device-details">
          <summary>Device settings</summary>
          <p id="manifest-status" class="muted small" />
          <button type="button" id="unpair" class="danger">
            Unpair this device
          </button>
        </details>
      </section>

      <div id="result" class="result" role="alert" aria-live="assertive" hidden>
        <span id="result-icon" class="result-icon" aria-hidden="true" />
        <p id="result-word" class="result-word" />
        <p id="result-reason" class="result-reason" />
        <p id="result-detail" class="result-detail" />
        <p class="result-hint">Tap to continue</p>
      </div>
    </div>
  );
}

export const scannerPages = new Hono<AppEnv>()
  .get("/scan", (c) =>
    render(c, {
      title: "Scanner",
      description: "Gatehouse scanner: admit ticket holders at the gate.",
      camera: true,
      wasm: true,
      scripts: ["/assets/scan.js"],
      head: (
        <>
          <link rel="manifest" href={SCANNER_MANIFEST} />
          <link rel="stylesheet" href="/assets/scan.css" />
          <link rel="apple-touch-icon" href="/assets/scan/icon-192.png" />
          <meta name="mobile-web-app-capable" content="yes" />
        </>
      ),
      bodyData: { app: "scanner" },
      body: <ScannerApp />,
    }),
  )
  .get("/scan/sw.js", async (c) => {
    const asset = await c.env.ASSETS.fetch(new URL(SERVICE_WORKER_ASSET, c.req.url));
    if (!asset.ok) return c.notFound();
    return new Response(asset.body, {
      headers: {
        "Content-Type": "application/javascript; charset=utf-8",
        // The script lives under /scan/ but controls /scan itself (the app's start URL).
        "Service-Worker-Allowed": "/scan",
        // Browsers check for a new worker on every navigation; never answer from a cache.
        "Cache-Control": "no-cache",
        "Content-Security-Policy": SERVICE_WORKER_CSP,
      },
    });
  });
