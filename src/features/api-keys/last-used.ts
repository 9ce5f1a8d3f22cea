/**
 * An API key's `last_used_at`, kept coarsely: at most one write per key per
 * LIMITS.apiKeyLastUsedGranularityMs, after the response (c.var.defer), never one per request. The
 * row read on every request already says when it was last written; the isolate also remembers its own
 * writes, so a burst of requests arriving before the first write lands does not write again. The
 * UPDATE is conditional too: isolates racing each other write it once.
 */
import { LIMITS } from "../../config/limits";
import type { AppContext } from "../../context";
import { BoundedCache } from "../../lib/bounded-cache";

/** Key ids whose last use this isolate wrote within the interval (entries expire with it). */
const written = new BoundedCache<string, number>(LIMITS.apiKeyLastUsedEntries, LIMITS.apiKeyLastUsedGranularityMs);

export function touchLastUsed(c: AppContext, keyId: string, stored: number | null): void {
  const now = Date.now();
  const threshold = now - LIMITS.apiKeyLastUsedGranularityMs;
  if (stored !== null && stored > threshold) return;
  if (written.get(keyId, now) !== undefined) return;
  written.set(keyId, now, now);
  const db = c.env.DB;
  c.get("defer")(() =>
    db
      .prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
      .bind(now, keyId, threshold)
      .run(),
  );
}
