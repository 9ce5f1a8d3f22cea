/**
 * A per-isolate cache with a fixed number of entries and an optional lifetime per entry. Isolates
 * live for hours and serve any key a client sends, so every cache kept in module scope must be
 * bounded: when full, the entry written longest ago goes first (a Map iterates in insertion order,
 * and `set` re-inserts). Expired entries are dropped when read.
 */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, { value: V; until: number }>();

  constructor(
    readonly maxEntries: number,
    /** Lifetime of an entry in ms; Infinity keeps entries until evicted. */
    readonly ttlMs = Number.POSITIVE_INFINITY,
  ) {
    if (!(maxEntries >= 1)) throw new RangeError("maxEntries must be at least 1");
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Stores `value`, living `ttlMs` from `now` (or `until`, an absolute expiry, when given). */
  set(key: K, value: V, now = Date.now(), until = now + this.ttlMs): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  /** Drops every entry whose value matches (e.g. all token hashes of one revoked device). */
  deleteWhere(predicate: (value: V, key: K) => boolean): void {
    for (const [key, entry] of this.#entries) if (predicate(entry.value, key)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
