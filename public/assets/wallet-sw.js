// The wallet's service worker (served as /me/sw.js, scope /me/). The wallet page is fetched from
// the network first and its last good copy kept, with the few assets it uses, so the tickets still
// show when the phone is offline at the door; that copy is marked so the page says it is offline.
// Only this browser's own page is ever stored (the cache is per browser profile), and it is dropped
// as soon as the wallet answers with a redirect to sign-in or a 401/403: after signing out the next
// visit empties it. Nothing else under /me/ is stored.
const CACHE = "gatehouse-wallet-v1";
const PAGE = "/me/tickets";
const ASSETS = [
  "/assets/app.css",
  "/assets/attendee.css",
  "/assets/wallet.js",
  "/assets/session.js",
  "/assets/icon.svg",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(ASSETS))
      .catch(() => {})
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith("gatehouse-wallet-") && k !== CACHE).map((k) => caches.delete(k))),
      )
      .then(() => self.clients.claim()),
  );
});

function signedOut(response) {
  if (response.type === "opaqueredirect") return true;
  if (response.status === 401 || response.status === 403) return true;
  const location = response.headers.get("Location") ?? "";
  return response.status >= 300 && response.status < 400 && location.includes("/login");
}

async function walletPage(request) {
  let response;
  try {
    response = await fetch(request);
  } catch {
    const cache = await caches.open(CACHE);
    const saved = await cache.match(PAGE);
    if (!saved) return Response.error();
    // Mark the copy so the page shows its offline notice (the saved headers, CSP nonce included, stay).
    const html = (await saved.text()).replace("<body", '<body data-offline="1"');
    const headers = new Headers(saved.headers);
    headers.delete("Content-Length");
    return new Response(html, { status: 200, headers });
  }
  if (signedOut(response) || response.redirected) {
    await caches.delete(CACHE);
  } else if (response.ok && (response.headers.get("Content-Type") ?? "").includes("text/html")) {
    const cache = await caches.open(CACHE);
    await cache.put(PAGE, response.clone());
  }
  return response;
}

async function asset(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch {
    return (await cache.match(request)) ?? Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === PAGE) event.respondWith(walletPage(request));
  else if (ASSETS.includes(url.pathname)) event.respondWith(asset(request));
});
