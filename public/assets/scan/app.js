/**
 * The scanner app (/scan): pairing, scanning, the answer on screen, the offline queue and its sync.
 * Online, the server decides each scan (POST /api/v1/scan); without a network (or an answer in time)
 * the device decides from the event's manifest (./verify.js), remembers its admissions and queues
 * the scan for POST /api/v1/events/:id/scans, whose conflicts are listed on screen. Device calls
 * carry `Authorization: Device <token>` and no cookie.
 */
import { feedback, unlockAudio } from "./feedback.js";
import * as store from "./store.js";

// Loaded when first needed (a tap on a camera button, the first offline scan); the service worker
// keeps them for offline use all the same.
const camera = () => import("./camera.js");
const verify = () => import("./verify.js");

const TOKEN_SHAPE = /^gdt_[A-Za-z0-9_-]{43}$/;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SAME_CODE_MS = 4000;
const RESULT_MS = 2500;
const SCAN_TIMEOUT_MS = 5000;
const REFRESH_MS = 30_000;
const MANIFEST_MS = 5 * 60_000;
const SYNC_BATCH = 100;

/** ui.pairView is the element with id "pair-view", and so on. */
const ui = new Proxy(
  {},
  { get: (_, name) => document.getElementById(String(name).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)) },
);

const state = {
  token: null,
  info: null,
  /** False after a request failed for want of a network, until one succeeds again. */
  reachable: true,
  camera: null,
  pairCamera: null,
  lastCode: { text: "", at: 0 },
  resultTimer: 0,
  syncing: null,
  seq: 0,
};

// helpers

const online = () => navigator.onLine && state.reachable;

function timeOf(value) {
  const date = new Date(value);
  const sameDay = date.toDateString() === new Date().toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return sameDay ? time : `${date.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

/** A <time> element: the reader sees local time, the machine-readable instant stays in datetime. */
function timeEl(value) {
  const el = document.createElement("time");
  el.dateTime = new Date(value).toISOString();
  el.textContent = timeOf(value);
  return el;
}

class Offline extends Error {}

/** A device API call; throws Offline when the network (or the server) does not answer. */
async function api(path, { method = "GET", body, timeout = SCAN_TIMEOUT_MS, token = state.token } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  try {
    const response = await fetch(path, {
      method,
      headers: { Authorization: `Device ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    });
    if (response.status >= 500 || response.status === 429) throw new Offline(`server answered ${response.status}`);
    setReachable(true);
    return response;
  } catch (error) {
    if (error instanceof Offline) throw error;
    setReachable(false);
    throw new Offline(error?.message ?? "network");
  } finally {
    clearTimeout(timer);
  }
}

function setReachable(value) {
  if (state.reachable === value) return;
  state.reachable = value;
  renderNet();
  if (value) void sync();
}

/** The device token in `text`: a pairing link (…/scan#pair=<token>) or the token itself. */
export function pairingToken(text) {
  const value = String(text ?? "").trim();
  if (TOKEN_SHAPE.test(value)) return { token: value };
  let url;
  try {
    url = new URL(value);
  } catch {
    return { error: "That is not a device token or pairing link." };
  }
  const token = new URLSearchParams(url.hash.slice(1)).get("pair");
  if (!token || !TOKEN_SHAPE.test(token)) return { error: "That link holds no device token." };
  if (url.origin !== location.origin) return { error: `That pairing code is for ${url.host}, not this site.` };
  return { token };
}

// rendering

function showView(view) {
  ui.scanLoading.hidden = true;
  ui.pairView.hidden = view !== "pair";
  ui.scanView.hidden = view !== "scan";
}

function renderNet() {
  const on = online();
  ui.net.dataset.online = String(on);
  ui.net.textContent = on ? "Online" : "Offline: checking on this device";
}

async function renderCounts() {
  const [here, queue] = await Promise.all([store.get("admittedHere"), store.queueSize()]);
  ui.countDevice.textContent = String(here ?? 0);
  ui.countQueue.textContent = String(queue);
  const gate = state.info?.gate?.checkedIn;
  ui.countGate.textContent = gate === undefined ? "–" : String(gate);
  ui.syncNow.disabled = queue === 0;
}

function renderInfo() {
  const info = state.info;
  if (!info) return;
  ui.scanTitle.textContent = info.event.title ?? "Scanner";
  const parts = [info.name, info.event.venueName].filter(Boolean);
  ui.scanDevice.textContent = parts.join(" · ");
}

async function renderManifest() {
  const m = await store.get("manifest");
  ui.manifestStatus.textContent = m
    ? `Ticket list: ${m.count} tickets, downloaded ${timeOf(m.generatedAt)}. Decoder: ${"BarcodeDetector" in globalThis ? "native" : "fallback"}.`
    : "No ticket list on this device yet: offline checks need one.";
}

async function renderConflicts() {
  const list = (await store.get("conflicts")) ?? [];
  ui.conflicts.hidden = list.length === 0;
  ui.conflictList.replaceChildren(
    ...list.map((c) => {
      const li = document.createElement("li");
      const by = c.other ? ` by ${c.other.deviceName ?? "another device"}.` : "";
      li.append(
        `Ticket ${c.serial ? `#${c.serial}` : (c.ticketId ?? "?")}: admitted here offline at `,
        timeEl(c.scannedAt),
      );
      if (!c.other) li.append(", but the ticket was refunded or cancelled.");
      else if (c.result === "admitted") li.append(", the first admission; also admitted at ", timeEl(c.other.at), by);
      else li.append(", but it was already admitted at ", timeEl(c.other.at), by);
      return li;
    }),
  );
}

function banner(text) {
  ui.scanBanner.textContent = text ?? "";
  ui.scanBanner.hidden = !text;
}

// the answer on screen

/** result → [tone, symbol, word, reason]: the colour is never the only signal. */
const DESCRIBE = {
  admitted: ["ok", "✓", "Admitted"],
  already_redeemed: ["bad", "✕", "Already used"],
  invalid: ["bad", "✕", "Invalid", "Not a valid ticket code for Gatehouse."],
  wrong_event: ["bad", "✕", "Wrong event", "This ticket is for another event."],
  not_active: ["bad", "✕", "Not valid", "This ticket was refunded or cancelled."],
  refund_pending: ["bad", "✕", "Not valid", "A refund of this ticket is in progress."],
  outside_window: ["warn", "!", "Not now", "Check-in is not open at this time."],
  expired_code: ["warn", "!", "Code expired", "Ask the holder to reopen the ticket for a fresh code."],
  unverified: ["warn", "?", "Can't verify", "A ticket this device has no record of yet. Check again once online."],
  refused: ["bad", "✕", "Device refused", "The server no longer accepts this device. Ask the host to pair it again."],
};

function firstScanReason(first) {
  const span = document.createElement("span");
  if (!first?.at) {
    span.textContent = "This ticket was already admitted.";
    return span;
  }
  const where =
    first.here || first.deviceId === state.info?.deviceId ? "this device" : (first.deviceName ?? "another device");
  span.append("First scanned ", timeEl(first.at), ` at ${where}`);
  return span;
}

function showResult(answer, { offline = false } = {}) {
  const [tone, icon, word, reason] = DESCRIBE[answer.result] ?? DESCRIBE.invalid;
  clearTimeout(state.resultTimer);
  Object.assign(ui.result.dataset, { tone, result: answer.result, offline: String(offline) });
  ui.resultIcon.textContent = icon;
  ui.resultWord.textContent = word;
  if (answer.result === "already_redeemed") ui.resultReason.replaceChildren(firstScanReason(answer.firstScan));
  else if (answer.result === "admitted" && answer.repeat) ui.resultReason.textContent = "Same admission, read again.";
  else ui.resultReason.textContent = reason ?? "";
  const detail = [];
  if (answer.ticket?.serial !== undefined) detail.push(`Ticket #${answer.ticket.serial}`);
  if (offline) detail.push("checked offline, will sync");
  ui.resultDetail.textContent = detail.join(" · ");
  ui.result.hidden = false;
  feedback(tone);
  state.resultTimer = setTimeout(hideResult, RESULT_MS);
}

function hideResult() {
  clearTimeout(state.resultTimer);
  ui.result.hidden = true;
}

// pairing

async function pair(text) {
  const parsed = pairingToken(text);
  if (parsed.error) throw new Error(parsed.error);
  const { token } = parsed;
  if (state.token === token) return;
  if (state.token && (await store.queueSize()) > 0) {
    throw new Error("This device still has offline scans to sync. Sync them, or unpair it first.");
  }
  let response;
  try {
    response = await api("/api/v1/scanner/device", { token });
  } catch {
    throw new Error("Pairing needs a network connection. Try again when online.");
  }
  if (response.status === 401) throw new Error("That device token is unknown or was revoked.");
  if (!response.ok) throw new Error(`Pairing failed (${response.status}). Try again.`);
  const info = await response.json();
  if (state.token) await reset();
  await store.set("token", token);
  await store.set("info", info);
  await store.set("admittedHere", 0);
  state.token = token;
  state.info = info;
  await enterScanView();
  void refreshManifest();
}

async function pairFromForm(event) {
  event.preventDefault();
  ui.pairError.textContent = "";
  ui.pairToken.removeAttribute("aria-invalid");
  try {
    await pair(ui.pairToken.value);
    ui.pairToken.value = "";
  } catch (error) {
    ui.pairError.textContent = error.message;
    ui.pairToken.setAttribute("aria-invalid", "true");
    ui.pairToken.focus();
  }
}

async function togglePairCamera() {
  unlockAudio();
  if (state.pairCamera) return stopPairCamera();
  ui.pairError.textContent = "";
  ui.pairViewfinder.hidden = false;
  ui.pairScan.textContent = "Stop camera";
  let busy = false;
  try {
    state.pairCamera = await (await camera()).startCamera(ui.pairCamera, {
      paused: () => busy,
      onCode: async (text) => {
        busy = true;
        try {
          await pair(text);
          stopPairCamera();
        } catch (error) {
          ui.pairError.textContent = error.message;
          setTimeout(() => {
            busy = false;
          }, SAME_CODE_MS);
        }
      },
    });
  } catch (error) {
    stopPairCamera();
    ui.pairError.textContent = `Camera unavailable: ${error.message}`;
  }
}

function stopPairCamera() {
  state.pairCamera?.stop();
  state.pairCamera = null;
  ui.pairViewfinder.hidden = true;
  ui.pairScan.textContent = "Scan pairing code";
}

/**
 * A pairing link opened by the phone's camera app (or followed while the app is open): take the
 * token, then drop it from the URL (history, screenshots and the share sheet must not keep it).
 */
async function pairFromLink() {
  const linked = new URLSearchParams(location.hash.slice(1)).get("pair");
  if (linked === null) return;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    await pair(`${location.origin}/scan#pair=${linked}`);
  } catch (error) {
    if (state.token) return banner(error.message);
    showView("pair");
    ui.pairError.textContent = error.message;
  }
}

async function reset() {
  stopCamera();
  stopPairCamera();
  await store.wipe();
  state.token = null;
  state.info = null;
  ui.conflictList.replaceChildren();
}

async function unpair() {
  const pending = await store.queueSize();
  const warning = pending
    ? `${pending} offline scan(s) have not been synced and will be lost. Unpair anyway?`
    : "Unpair this device? It forgets its event, its ticket list and its counts.";
  if (!confirm(warning)) return;
  await reset();
  banner(null);
  showView("pair");
  ui.pairToken.focus();
}

// scanning

async function toggleCamera() {
  unlockAudio();
  if (state.camera) return stopCamera();
  ui.cameraStatus.textContent = "Starting the camera…";
  ui.cameraToggle.disabled = true;
  try {
    state.lastCode = { text: "", at: 0 };
    state.camera = await (await camera()).startCamera(ui.camera, {
      onCode: handleCode,
      paused: () => !ui.result.hidden,
    });
    ui.cameraStatus.textContent = "Hold a ticket's QR code in front of the camera";
    ui.cameraToggle.textContent = "Stop scanning";
    // The screen stays on while scanning (where the browser allows it).
    navigator.wakeLock?.request("screen").then(
      (lock) => {
        state.wakeLock = lock;
      },
      () => {},
    );
  } catch (error) {
    ui.cameraStatus.textContent = `Camera unavailable: ${error.message}`;
  } finally {
    ui.cameraToggle.disabled = false;
  }
}

function stopCamera() {
  state.camera?.stop();
  state.camera = null;
  void state.wakeLock?.release().catch(() => {});
  state.wakeLock = null;
  ui.cameraStatus.textContent = "Camera off";
  ui.cameraToggle.textContent = "Start scanning";
}

function handleCode(text) {
  const now = Date.now();
  // A code held in front of the camera is read many times a second: one scan per showing. It counts
  // as shown again once it has been out of view for SAME_CODE_MS (or the camera was restarted).
  const same = text === state.lastCode.text && now - state.lastCode.at < SAME_CODE_MS;
  state.lastCode = { text, at: now };
  if (!same) void scan(text, now);
}

async function scan(text, at) {
  const token = text.trim();
  if (token.length > 512 || !JWS_SHAPE.test(token)) {
    showResult({ result: "invalid" });
    return;
  }
  const nonce = crypto.randomUUID();
  if (navigator.onLine) {
    try {
      // While the server seemed unreachable, ask briefly: a lane cannot wait five seconds per ticket.
      const timeout = state.reachable ? SCAN_TIMEOUT_MS : 1500;
      const response = await api("/api/v1/scan", { method: "POST", body: { token, nonce }, timeout });
      if (response.status === 401) return refused();
      if (response.ok) {
        const answer = await response.json();
        if (answer.result === "admitted" && !answer.repeat && !answer.replayed) {
          await store.bump("admittedHere");
          if (answer.ticket) await store.markAdmitted({ ticketId: answer.ticket.id, at, nonce });
        }
        showResult(answer);
        void refreshInfo();
        return renderCounts();
      }
      // A 4xx other than 401 means the request itself was refused (never expected): decide here.
    } catch (error) {
      if (!(error instanceof Offline)) throw error;
    }
  }
  await scanOffline(token, nonce, at);
}

async function scanOffline(token, nonce, at) {
  const manifest = await store.get("manifest");
  if (!manifest) {
    showResult({ result: "unverified" }, { offline: true });
    return;
  }
  const { checkToken, decideOffline } = await verify();
  const check = await checkToken(token, {
    jwks: manifest.keys,
    eventRef: manifest.eventRef,
    at,
    skewSeconds: state.info?.skewSeconds ?? 30,
  });
  let answer;
  let row;
  if (!check.ok) answer = { result: check.result };
  else {
    const [found, local] = await Promise.all([store.ticket(check.ticketId), store.localAdmission(check.ticketId)]);
    row = found;
    answer = decideOffline({ row, local, manifest, at });
    if (row) answer.ticket = { id: row.id, serial: row.serial };
  }
  // Not knowable offline: nothing to record, the holder is asked to wait for the network.
  if (answer.result !== "unverified") {
    await store.enqueue({
      nonce,
      token,
      scannedAt: new Date(at).toISOString(),
      deviceResult: answer.result,
      ticketId: check.ticketId ?? null,
      serial: row?.serial ?? null,
      seq: at * 1000 + (state.seq++ % 1000),
    });
  }
  if (answer.result === "admitted") {
    await store.markAdmitted({ ticketId: check.ticketId, at, nonce });
    await store.bump("admittedHere");
  }
  showResult(answer, { offline: true });
  await renderCounts();
}

function refused() {
  showResult({ result: "refused" });
  banner(
    "The server refused this device's token (revoked?). Ask the host for a new pairing code, then unpair and pair again.",
  );
}

async function manualCheck(event) {
  event.preventDefault();
  const text = ui.manualToken.value.trim();
  if (!text) return;
  unlockAudio();
  ui.manualToken.value = "";
  state.lastCode = { text, at: Date.now() };
  await scan(text, Date.now());
}

// sync and refresh

async function refreshInfo() {
  if (!state.token || !navigator.onLine) return;
  try {
    const response = await api("/api/v1/scanner/device");
    if (response.status === 401) return banner("The server refused this device's token (revoked?).");
    if (!response.ok) return;
    state.info = await response.json();
    await store.set("info", state.info);
    renderInfo();
    await renderCounts();
  } catch {}
}

/** Downloads the event's whole manifest (page by page) and replaces the stored one. */
async function refreshManifest() {
  const eventId = state.info?.event?.id;
  if (!state.token || !eventId || !navigator.onLine) return;
  try {
    const tickets = [];
    let cursor = null;
    let first = null;
    do {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
      const response = await api(`/api/v1/events/${encodeURIComponent(eventId)}/manifest${query}`, { timeout: 30_000 });
      if (!response.ok) return;
      const page = await response.json();
      first ??= page;
      for (const t of page.tickets)
        tickets.push({ id: t.id, serial: t.serial, status: t.status, redeemedAt: t.redeemedAt });
      cursor = page.nextCursor;
    } while (cursor);
    await store.saveManifest(
      {
        eventId: first.eventId,
        eventRef: first.eventRef,
        eventStatus: first.eventStatus,
        checkIn: first.checkIn,
        keys: first.keys,
        generatedAt: first.generatedAt,
        count: tickets.length,
      },
      tickets,
    );
    await renderManifest();
    // Fetched now, while online, so the first offline scan does not depend on the worker's cache.
    verify().catch(() => {});
  } catch {}
}

/** Uploads the offline queue, oldest first; keeps what the server did not take. */
function sync() {
  state.syncing ??= runSync().finally(() => {
    state.syncing = null;
  });
  return state.syncing;
}

async function runSync() {
  const eventId = state.info?.event?.id;
  if (!state.token || !eventId) return;
  let items = await store.queued();
  if (items.length === 0 || !navigator.onLine) return renderCounts();
  ui.syncNow.disabled = true;
  ui.syncNow.textContent = "Syncing…";
  let sent = 0;
  const found = [];
  try {
    while (items.length) {
      const batch = items.slice(0, SYNC_BATCH);
      const response = await api(`/api/v1/events/${encodeURIComponent(eventId)}/scans`, {
        method: "POST",
        timeout: 20_000,
        body: {
          scans: batch.map(({ token, nonce, scannedAt, deviceResult }) => ({ token, nonce, scannedAt, deviceResult })),
        },
      });
      if (response.status === 401) return refused();
      if (!response.ok) {
        banner(`The server refused the offline scans (${response.status}); they stay on this device.`);
        return;
      }
      const body = await response.json();
      body.results.forEach((r, i) => {
        if (!r.conflict) return;
        const mine = batch[i];
        found.push({
          nonce: r.nonce,
          ticketId: r.ticket?.id ?? mine.ticketId,
          serial: r.ticket?.serial ?? mine.serial,
          result: r.result,
          scannedAt: r.scannedAt ?? mine.scannedAt,
          other: r.conflictWith ?? null,
        });
      });
      await store.dequeue(batch.map((b) => b.nonce));
      sent += batch.length;
      items = items.slice(SYNC_BATCH);
    }
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
  } finally {
    ui.syncNow.textContent = "Sync now";
    if (found.length) await store.set("conflicts", [...((await store.get("conflicts")) ?? []), ...found]);
    await renderConflicts();
    await renderCounts();
  }
  if (sent) {
    ui.cameraStatus.textContent = `Synced ${sent} offline scan${sent === 1 ? "" : "s"}${found.length ? `, ${found.length} conflict${found.length === 1 ? "" : "s"}` : ""}.`;
    await Promise.all([refreshInfo(), refreshManifest()]);
  }
}

// start

async function enterScanView() {
  showView("scan");
  renderInfo();
  renderNet();
  await Promise.all([renderCounts(), renderManifest(), renderConflicts()]);
}

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/scan/sw.js", { scope: "/scan" }).catch(() => {});
  }
  ui.pairForm.addEventListener("submit", pairFromForm);
  ui.pairScan.addEventListener("click", togglePairCamera);
  ui.cameraToggle.addEventListener("click", toggleCamera);
  ui.syncNow.addEventListener("click", () => void sync());
  ui.manualForm.addEventListener("submit", manualCheck);
  ui.unpair.addEventListener("click", unpair);
  ui.result.addEventListener("click", hideResult);
  ui.conflictsClear.addEventListener("click", async () => {
    await store.set("conflicts", []);
    await renderConflicts();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !ui.result.hidden) hideResult();
  });
  window.addEventListener("online", () => {
    state.reachable = true;
    renderNet();
    void sync().then(refreshInfo);
  });
  window.addEventListener("offline", renderNet);

  state.token = (await store.get("token")) ?? null;
  state.info = (await store.get("info")) ?? null;

  await pairFromLink();
  window.addEventListener("hashchange", () => void pairFromLink());

  setInterval(() => {
    if (navigator.onLine) void sync().then(refreshInfo);
  }, REFRESH_MS);
  setInterval(() => void refreshManifest(), MANIFEST_MS);
  if (!state.token) {
    showView("pair");
    return;
  }
  await enterScanView();
  await sync();
  await refreshInfo();
  await refreshManifest();
}

start().catch((error) => {
  ui.scanLoading.hidden = false;
  ui.scanLoading.textContent = `The scanner could not start: ${error.message}`;
});
