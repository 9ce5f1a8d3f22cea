/**
 * Copies the browser libraries the pages load from node_modules into public/assets/vendor/ (which git
 * ignores: the lock file pins the versions, npm ci fetches them, this script places them). Today that
 * is the scanner app's fallback QR decoder, for browsers without BarcodeDetector: barcode-detector
 * (MIT, a BarcodeDetector ponyfill) and the ZXing-C++ WebAssembly reader it runs (zxing-wasm, MIT),
 * self-hosted because the scanner must work offline and the pages' CSP loads nothing from elsewhere.
 * Runs before `npm run dev`, `npm test`, `npm run test:e2e`, `npm run build:check` and `npm run deploy`
 * (package.json pre-scripts); idempotent, and plain Node (any version the repository supports).
 *
 *   node scripts/vendor-assets.mjs          copy (only files whose bytes differ)
 *   node scripts/vendor-assets.mjs --check  exit 1 if a copy is missing or stale
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "public/assets/vendor");

const modules = join(root, "node_modules");
const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));

/**
 * The wasm must be the build barcode-detector's script was made for (it bundles zxing-wasm's glue
 * code): its own nested copy if npm placed one there, else the hoisted one, and the version it pins.
 */
function zxingDir() {
  let wanted;
  try {
    wanted = readJson(join(modules, "barcode-detector/package.json")).dependencies["zxing-wasm"];
  } catch {
    console.error("vendor-assets: node_modules/barcode-detector is missing; run npm ci");
    process.exit(1);
  }
  for (const dir of ["barcode-detector/node_modules/zxing-wasm", "zxing-wasm"]) {
    let version;
    try {
      version = readJson(join(modules, dir, "package.json")).version;
    } catch {
      continue;
    }
    if (version === wanted) return dir;
    console.error(`vendor-assets: node_modules/${dir} is ${version}, barcode-detector needs ${wanted}`);
    process.exit(1);
  }
  console.error("vendor-assets: zxing-wasm is missing; run npm ci");
  process.exit(1);
}
const zxing = zxingDir();

/** [source under node_modules, destination under public/assets/vendor] */
const VENDOR_FILES = [
  ["barcode-detector/dist/es/ponyfill.js", "barcode-detector/ponyfill.js"],
  ["barcode-detector/dist/es/zxing-exported.js", "barcode-detector/zxing-exported.js"],
  ["barcode-detector/LICENSE", "barcode-detector/LICENSE"],
  [`${zxing}/dist/reader/zxing_reader.wasm`, "zxing-wasm/zxing_reader.wasm"],
  [`${zxing}/LICENSE`, "zxing-wasm/LICENSE"],
];

const check = process.argv.includes("--check");
const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");
let stale = 0;
for (const [from, to] of VENDOR_FILES) {
  let source;
  try {
    source = readFileSync(join(modules, from));
  } catch {
    console.error(`vendor-assets: node_modules/${from} is missing; run npm ci`);
    process.exit(1);
  }
  const target = join(out, to);
  let current = null;
  try {
    current = readFileSync(target);
  } catch {}
  if (current && sha(current) === sha(source)) continue;
  stale++;
  if (check) {
    console.error(`vendor-assets: public/assets/vendor/${to} is ${current ? "stale" : "missing"}`);
    continue;
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, source);
}
if (check && stale) process.exit(1);
