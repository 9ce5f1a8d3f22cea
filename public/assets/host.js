// Host pages. Everything here is an enhancement: the pages work without it.
// - /host/events/:id: live counts over the event's WebSocket (GET /api/v1/events/:id/live, same
//   origin, the session cookie authenticates), reconnecting with capped exponential backoff and
//   jitter; figures change in place and a polite live region reads a summary at most every 10 s.
// - the event form: a time zone list (and the browser's zone for a new event); focus on the errors.
// - the device pairing card: focus on it, and a copy button for the token.
// - every form: the session is renewed just before it is sent. The access cookie lives 15 minutes
//   and only page loads renew it on the server, so an event written in 20 minutes would otherwise
//   arrive signed out and be lost.
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

  /** POST /api/v1/auth/refresh with the cookie (as session.js does); false once the session is over. */
  async function renewSession() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 5000);
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
        signal: abort.signal,
      });
      return response.ok;
    } catch {
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  for (const form of document.querySelectorAll('main form[method="post"]')) {
    form.addEventListener("submit", async (event) => {
      if (form.dataset.renewed) return;
      event.preventDefault();
      await renewSession();
      form.dataset.renewed = "1";
      // requestSubmit keeps the button that was pressed (a device's revoke button names the device).
      form.requestSubmit(event.submitter);
    });
  }

  const focusFirst = document.getElementById("form-errors") || document.getElementById("pairing");
  if (focusFirst) focusFirst.focus();

  const zone = document.getElementById("f-timezone");
  if (zone) {
    if (!zone.value && document.body.dataset.defaultTimezone) {
      zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    }
    if (typeof Intl.supportedValuesOf === "function") {
      const list = document.createElement("datalist");
      list.id = "f-timezone-list";
      for (const name of Intl.supportedValuesOf("timeZone")) {
        const option = document.createElement("option");
        option.value = name;
        list.append(option);
      }
      zone.after(list);
      zone.setAttribute("list", list.id);
    }
  }

  const token = document.querySelector("[data-copy]");
  if (token) {
    token.addEventListener("focus", () => token.select());
    if (navigator.clipboard) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = "Copy token";
      button.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(token.value);
          button.textContent = "Copied";
        } catch {
          token.focus();
        }
      });
      token.after(button);
    }
  }

  const section = document.querySelector("[data-live-url]");
  if (!section || !("WebSocket" in window)) return;
  const url = new URL(section.dataset.liveUrl, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const status = document.getElementById("live-status");
  const summary = document.getElementById("live-summary");
  const cells = {};
  for (const el of section.querySelectorAll("[data-stat]")) cells[el.dataset.stat] = el;
  const MAX_DELAY = 30_000;
  const SPEAK_EVERY = 10_000;
  let failures = 0;
  let refreshed = false;
  let retry = 0;
  let socket = null;
  let spoken = 0;
  let speakTimer = 0;
  let latest = null;
  let state = "";

  function setState(next, text) {
    section.dataset.state = next;
    if (state !== next || status.textContent !== text) status.textContent = text;
    state = next;
  }

  const sentence = (c) => `Sold ${c.sold} of ${c.capacity}, ${c.remaining} remaining, ${c.checkedIn} checked in.`;
  const rendered = {};
  for (const [name, el] of Object.entries(cells)) rendered[name] = Number(el.textContent);
  // What the page already says is not read out again (the first message repeats the rendered figures).
  let said = sentence(rendered);

  function speak() {
    speakTimer = 0;
    const text = sentence(latest);
    if (text === said) return;
    spoken = Date.now();
    said = text;
    summary.textContent = text;
  }

  function show(counts) {
    for (const [name, el] of Object.entries(cells)) {
      if (typeof counts[name] === "number") el.textContent = String(counts[name]);
    }
    latest = counts;
    const conflicts = counts.conflicts > 0 ? ` · ${counts.conflicts} offline double admission(s) to review` : "";
    setState("live", `Live${conflicts}`);
    if (!speakTimer) speakTimer = setTimeout(speak, Math.max(0, spoken + SPEAK_EVERY - Date.now()));
  }

  async function schedule() {
    failures += 1;
    // A socket that keeps failing to open usually means the access cookie lapsed: renew it once.
    if (failures >= 2 && !refreshed) {
      refreshed = true;
      if (!(await renewSession())) {
        setState("ended", "Live updates stopped: your session ended. Reload the page to sign in again.");
        return;
      }
    }
    const delay = Math.min(MAX_DELAY, 1000 * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
    setState("waiting", `Connection lost; reconnecting in ${Math.ceil(delay / 1000)} s.`);
    retry = setTimeout(connect, delay);
  }

  function connect() {
    clearTimeout(retry);
    retry = 0;
    if (state !== "waiting") setState("connecting", "Connecting to live updates…");
    let opened = false;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      opened = true;
      failures = 0;
      refreshed = false;
    });
    socket.addEventListener("message", (event) => {
      try {
        const data = JSON.parse(event.data);
        if (data && data.type === "counts") show(data);
      } catch {
        // Not a message this page understands.
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (event.code === 1008) {
        setState("ended", "Live updates ended by the server. Reload the page to try again.");
        return;
      }
      if (!opened) schedule();
      else {
        failures = 0;
        schedule();
      }
    });
  }

  window.addEventListener("online", () => {
    if (retry) connect();
  });
  connect();
})();
