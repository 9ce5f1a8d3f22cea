// The wallet (/me/tickets): keeps each entry code fresh and the page usable offline.
// - Each code's token expires (data-expires-at); a fresh one is fetched as an SVG from
//   GET /api/v1/tickets/:id/qr?format=svg a minute before, and swapped in. A lapsed access cookie
//   is renewed once (POST /api/v1/auth/refresh, as session.js does) and the fetch retried.
// - Codes not drawn into the page (data-expires-at="") are fetched at once.
// - /me/sw.js keeps the last good copy of this page; served from that copy, the page says so.
// - Signing out (from any page: public/assets/session.js) empties that copy first, so the next person on
//   this browser cannot see it.
(() => {
  const LEAD_MS = 60 * 1000;
  const RETRY_MS = 30 * 1000;
  const MIN_GAP_MS = 10 * 1000;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
  const notice = document.getElementById("wallet-offline");
  const timers = new Map();

  function showOffline(offline) {
    if (notice) notice.hidden = !offline;
  }
  showOffline(document.body.dataset.offline === "1" || navigator.onLine === false);
  addEventListener("offline", () => showOffline(true));
  addEventListener("online", () => {
    showOffline(false);
    refreshDue(true);
  });

  async function renewSession() {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf },
    });
    return response.ok;
  }

  async function fetchCode(id, retried) {
    const response = await fetch(`/api/v1/tickets/${encodeURIComponent(id)}/qr?format=svg`, {
      credentials: "same-origin",
      headers: { Accept: "image/svg+xml" },
      cache: "no-store",
    });
    if (response.status === 401 && !retried && (await renewSession())) return fetchCode(id, true);
    return response;
  }

  function swap(figure, svgText) {
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName.toLowerCase() !== "svg") throw new Error("not an SVG");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Entry code");
    const holder = figure.querySelector(".qr-code");
    holder.replaceChildren(document.importNode(svg, true));
  }

  async function refresh(figure) {
    const id = figure.dataset.ticketId;
    try {
      const response = await fetchCode(id, false);
      if (response.status === 409 || response.status === 404) {
        // Used at the gate, refunded or gone: the page shows what happened.
        location.reload();
        return;
      }
      if (!response.ok) throw new Error(`status ${response.status}`);
      swap(figure, await response.text());
      figure.dataset.expiresAt = response.headers.get("X-Ticket-Token-Expires-At") ?? "";
      figure.classList.remove("stale");
      // At least MIN_GAP_MS until the next fetch, whatever the phone's clock says.
      schedule(figure, MIN_GAP_MS);
    } catch {
      // Offline or a hiccup: keep the code on screen, marked, and try again soon.
      figure.classList.add("stale");
      clearTimeout(timers.get(figure));
      timers.set(
        figure,
        setTimeout(() => refresh(figure), RETRY_MS),
      );
    }
  }

  // Renew LEAD_MS before expiry, or halfway through a shorter lifetime.
  function dueIn(figure) {
    const expires = Date.parse(figure.dataset.expiresAt ?? "");
    if (Number.isNaN(expires)) return 0;
    const left = expires - Date.now();
    return left - Math.min(LEAD_MS, Math.max(0, left / 2));
  }

  function schedule(figure, minDelay = 0) {
    clearTimeout(timers.get(figure));
    timers.set(
      figure,
      setTimeout(() => refresh(figure), Math.max(minDelay, dueIn(figure))),
    );
  }

  // Timers sleep with the phone: on waking, refresh whatever came due meanwhile.
  function refreshDue(all) {
    for (const figure of document.querySelectorAll("figure.qr[data-ticket-id]")) {
      if (all || dueIn(figure) <= 0) refresh(figure);
    }
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshDue(false);
  });

  for (const figure of document.querySelectorAll("figure.qr[data-ticket-id]")) schedule(figure);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/me/sw.js", { scope: "/me/" }).catch(() => {});
  }
})();
