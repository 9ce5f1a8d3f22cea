/**
 * The scanner's storage (IndexedDB, not localStorage, for the device token): pairing and counters
 * ("kv"), the manifest ("tickets"), this device's admissions ("local"), offline scans waiting to be
 * uploaded ("queue"). Unpairing deletes the database.
 */
const DB_NAME = "gatehouse-scanner";
const VERSION = 1;

let opening = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function open() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      if (!db.objectStoreNames.contains("tickets")) db.createObjectStore("tickets", { keyPath: "id" });
      if (!db.objectStoreNames.contains("local")) db.createObjectStore("local", { keyPath: "ticketId" });
      if (!db.objectStoreNames.contains("queue")) db.createObjectStore("queue", { keyPath: "nonce" });
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab deleting the database (unpair) must not be blocked by this one.
      db.onversionchange = () => {
        db.close();
        opening = null;
      };
      resolve(db);
    };
    req.onerror = () => {
      opening = null;
      reject(req.error);
    };
  });
  return opening;
}

/** Runs `work(stores)` in one transaction over `names`; resolves with its result once committed. */
async function tx(names, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(names, mode);
    const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
    let result;
    Promise.resolve(work(stores)).then(
      (value) => {
        result = value;
      },
      (error) => {
        t.abort();
        reject(error);
      },
    );
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error ?? new Error("transaction aborted"));
  });
}

export const get = (key) => tx(["kv"], "readonly", ({ kv }) => request(kv.get(key)));
export const set = (key, value) => tx(["kv"], "readwrite", ({ kv }) => request(kv.put(value, key)));

/** Adds `by` to a counter in kv atomically; resolves with the new value. */
export const bump = (key, by = 1) =>
  tx(["kv"], "readwrite", async ({ kv }) => {
    const next = ((await request(kv.get(key))) ?? 0) + by;
    kv.put(next, key);
    return next;
  });

export const ticket = (id) => tx(["tickets"], "readonly", ({ tickets }) => request(tickets.get(id)));
export const localAdmission = (id) => tx(["local"], "readonly", ({ local }) => request(local.get(id)));
export const markAdmitted = (entry) => tx(["local"], "readwrite", ({ local }) => request(local.put(entry)));

/** Replaces the manifest: every ticket row and the manifest's facts, in one transaction. */
export const saveManifest = (meta, tickets) =>
  tx(["kv", "tickets"], "readwrite", ({ kv, tickets: store }) => {
    store.clear();
    for (const t of tickets) store.put(t);
    kv.put(meta, "manifest");
  });

export const enqueue = (scan) => tx(["queue"], "readwrite", ({ queue }) => request(queue.put(scan)));
export const queued = () =>
  tx(["queue"], "readonly", async ({ queue }) => ((await request(queue.getAll())) ?? []).sort((a, b) => a.seq - b.seq));
export const queueSize = () => tx(["queue"], "readonly", ({ queue }) => request(queue.count()));
export const dequeue = (nonces) =>
  tx(["queue"], "readwrite", ({ queue }) => {
    for (const n of nonces) queue.delete(n);
  });

/** Forgets everything: the token, the manifest, the queue, the counters. */
export async function wipe() {
  const db = await open();
  db.close();
  opening = null;
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve();
  });
}
