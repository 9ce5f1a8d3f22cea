#!/usr/bin/env node
/**
 * Checks the Subresource Integrity pins of /docs (src/features/docs/assets.ts) against the files of the
 * npm package swagger-ui-dist at the pinned version, the bytes jsDelivr serves. The package is fetched
 * with `npm pack` and never becomes a dependency (nor runs its install script).
 *
 * Usage: node scripts/swagger-ui-sri.mjs            check; exit 1 on a mismatch
 *        node scripts/swagger-ui-sri.mjs 5.36.0     print the pins for another version (to upgrade)
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ASSETS = resolve(dirname(fileURLToPath(import.meta.url)), "../src/features/docs/assets.ts");
const source = readFileSync(ASSETS, "utf8");
const pinnedVersion = source.match(/SWAGGER_UI_VERSION = "([^"]+)"/)?.[1];
if (!pinnedVersion) throw new Error(`no SWAGGER_UI_VERSION in ${ASSETS}`);
const version = process.argv[2] ?? pinnedVersion;

/** Each pinned file: its name in the package and its integrity in assets.ts. */
const pins = [...source.matchAll(/url: `\$\{BASE\}\/([^`]+)`,\s*integrity: "([^"]+)"/g)].map((m) => ({
  file: m[1],
  integrity: m[2],
}));
if (pins.length === 0) throw new Error(`no pinned assets in ${ASSETS}`);

const dir = mkdtempSync(join(tmpdir(), "swagger-ui-sri-"));
let mismatches = 0;
try {
  const tarball = execFileSync("npm", ["pack", `swagger-ui-dist@${version}`, "--silent", "--pack-destination", dir], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .at(-1);
  execFileSync("tar", ["-xzf", join(dir, tarball), "-C", dir, ...pins.map((p) => `package/${p.file}`)]);
  for (const pin of pins) {
    const bytes = readFileSync(join(dir, "package", pin.file));
    const actual = `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
    const same = version === pinnedVersion && actual === pin.integrity;
    if (version === pinnedVersion && !same) mismatches += 1;
    console.log(
      `${same ? "ok      " : version === pinnedVersion ? "MISMATCH" : "        "} ${pin.file}@${version} ${actual}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (mismatches > 0) {
  console.error(`swagger-ui-sri: ${mismatches} pin(s) in src/features/docs/assets.ts do not match the package`);
  process.exit(1);
}
