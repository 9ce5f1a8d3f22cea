/**
 * Time as the API shows it: storage keeps epoch milliseconds (integers sort and compare in SQL and
 * in Durable Object storage alike), responses carry ISO 8601 UTC strings. One conversion, so every
 * timestamp in every body reads the same way.
 */

/** Epoch milliseconds → ISO 8601 UTC (`2026-12-04T23:05:25.000Z`); null stays null (a time not reached yet). */
export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
