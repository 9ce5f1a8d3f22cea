/**
 * The scanner app's service worker, served as /scan/sw.js (scope /scan, see src/web/pages/scan.tsx).
 * It keeps the app shell (the /scan page, its script modules and stylesheets, the manifest and icons,
 * and the fallback QR decoder) so the app opens with no network at the gate. Network first, so a
 * deploy reaches devices on their next load; the cached copy when the network does not answer in
 * time. The API is never cached here: the app keeps its own data (IndexedDB) and decides offline.
 */
const CACHE = "gatehouse-scanner-v1";
const NETWORK_TIMEOUT_MS = 3000;
const SHELL = [
  "/scan",
  "/assets/app.css",
  "/assets/scan.css",
  "/assets/scan.js",
  "/assets/scan/app.js",
  "/assets/scan/camera.js",
  "/assets/scan/feedback.js",
  "/assets/scan/store.js",
  "/assets/scan/verify.js",
  "/assets/scan/manifest.webmanifest",
  "/assets/icon.svg",
  "/assets/scan/icon-192.png",
  "/assets/scan/icon-512.png",
];
/** Needed only where the browser has no BarcodeDetector; a missing copy must not fail the install. */
const DECODER = [
  "/assets/vendor/barcode-detector/ponyfill.js",
  "/assets/vendor/barcode-detector/zxing-exported.js",
  "/assets/vendor/zxing-wasm/zxing_reader.wasm",
];
const CACHED = new Set([...SHELL, ...DECODER]);

async function put(cache, path) {
  // No cookies: the cached shell must hold nobody's session (the app itself uses no cookie).
  const response = await fetch(path, { credentials: "omit", cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  await cache.put(path, response);
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await Promise.all(SHELL.map((path) => put(cache, path)));
      await Promise.allSettled(DECODER.map((path) => put(cache, path)));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

/** The network's answer (kept in the cache), or the cached copy when the network fails or is slow. */
async function networkFirst(request, path) {
  const cache = await caches.open(CACHE);
  const network = fetch(path === "/scan" ? new Request(path, { credentials: "omit" }) : request).then(
    async (response) => {
      if (response.ok) await cache.put(path, response.clone());
      return response;
    },
  );
  network.catch(() => {});
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_TIMEOUT_MS));
  let first;
  try {
    first = await Promise.race([network, timeout]);
  } catch {}
  if (first?.ok) return first;
  const cached = await cache.match(path);
  return cached ?? first ?? network;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !CACHED.has(url.pathname)) return;
  event.respondWith(networkFirst(request, url.pathname));
});
