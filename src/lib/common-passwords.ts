/**
 * The password policy's blocklist: the 10,000 most common passwords of 8+ characters in Mark Burnett's
 * "10 million password list" (OWASP SecLists, CC BY-SA 3.0), lowercased and de-duplicated.
 *
 * The entries are data, kept in ./common-passwords.txt (one a line, most common first), which
 * scripts/gen-common-passwords.mjs writes from a source pinned by SHA-256; regenerate rather than edit.
 * The bundle imports the file as one string (wrangler.toml's Text module rule; vitest reads the same
 * rules; its type is wrangler's `declare module "*.txt"` in src/worker-configuration.d.ts), so neither
 * Biome nor tsc parses 10,000 lines as code.
 */
import list from "./common-passwords.txt";

let entries: ReadonlySet<string> | undefined;

/**
 * The blocklist as a Set, built on first use and kept for the isolate's life. Lazily, because every
 * module runs at isolate start-up and most requests (gate scans, event pages) never check a password;
 * a Set, because a password check is then one hash lookup instead of a scan of the string.
 */
export function commonPasswords(): ReadonlySet<string> {
  if (entries === undefined) {
    // Tolerates CRLF (a checkout with autocrlf) and the final newline the generator writes.
    const lines = list.split(/\r?\n/);
    if (lines.at(-1) === "") lines.pop();
    entries = new Set(lines);
  }
  return entries;
}
