#!/usr/bin/env node
/**
 * Bench scenario `strip`: how fast the JPEG metadata stripper runs in-process, against a plain byte
 * copy of the same buffer in the same run (the stripper's floor: it must at least copy what it keeps).
 *
 * Input: a synthetic 12-megapixel (4000×3000) JPEG-shaped buffer, built here: phone-sized metadata
 * (a 60 KB Exif block with Orientation and a MakerNote, 24 KB XMP, 3 KB ICC profile, 8 KB IPTC, a
 * comment), real frame/table/scan headers, ~5 MB of scan data with 0xFF byte stuffing and restart
 * markers, EOI and a 100 KB trailer. The stripper's work is the segment walk, the scan for the marker
 * that ends the entropy-coded data, and the copy of what it keeps; nothing is decoded.
 *
 * Reported: `strip` MB/s in place (how uploads run: the service owns the body buffer, so the image
 * data is not copied at all), the copying variant (output in a new buffer), a plain copy
 * (`Uint8Array.prototype.slice`) of the same input, and the ratio strip ÷ copy (target ≥ 0.3×).
 * MB/s is input bytes per second, median of per-call timings; strip and copy alternate call by call.
 *
 * Then `memory`: what one strip allocates, for the worst-case file of each format
 * (bench/strip-floods.mjs: a flood of the smallest blocks filling the upload limit, and a file at the
 * block cap laid out so every kept block is a piece of its own). Each file is stripped in place, as
 * uploads run, in a child process of its own, after a warm-up strip of a copy (so compiling the
 * walker is not counted): V8 heap used plus array buffers, after the call minus before it. The
 * child's young generation is 256 MB, so no collection runs during a call that allocates less
 * (the number is then everything the call allocated: an upper bound on its peak); `gc` says how
 * many ran anyway. Reported in MB and as a multiple of the file's size.
 *
 * src/lib/image and src/config/limits.ts are TypeScript: they are bundled with esbuild (already a
 * dependency through wrangler) into a temporary module and imported, so this runs on plain Node 22.
 * Only reports; never fails on a number.
 *
 *   node bench/strip.mjs [--scan-mb 5] [--samples 201] [--json]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { worstCases } from "./strip-floods.mjs";

const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), "..");
const TARGET_RATIO = 0.3;

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && process.argv[at + 1] ? Number(process.argv[at + 1]) : fallback;
}

/** Bundles the stripper and the limits into `dir`; returns the module's path. */
async function bundleStripper(dir) {
  const entry = join(dir, "entry.ts");
  writeFileSync(
    entry,
    `export { stripImage } from ${JSON.stringify(join(root, "src/lib/image/index.ts"))};\n` +
      `export { LIMITS } from ${JSON.stringify(join(root, "src/config/limits.ts"))};\n`,
  );
  const outfile = join(dir, "image.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    outfile,
    logLevel: "warning",
  });
  return outfile;
}

/** Deterministic xorshift bytes, so every run strips the same buffer. */
function randomBytes(length, seed = 0x9e3779b9) {
  const out = new Uint8Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

function segment(marker, payload) {
  const out = new Uint8Array(4 + payload.length);
  out.set([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
  out.set(payload, 4);
  return out;
}

const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** Entropy-coded data as an encoder leaves it: every 0xFF stuffed with 0x00, RSTn every `interval` bytes. */
function scanData(bytes, interval = 64 * 1024) {
  const raw = randomBytes(bytes, 0x1234567);
  const out = new Uint8Array(bytes + Math.ceil(bytes / 128) + 2 * Math.ceil(bytes / interval));
  let o = 0;
  let rst = 0;
  for (let i = 0; i < raw.length; i++) {
    if (i > 0 && i % interval === 0) {
      out[o++] = 0xff;
      out[o++] = 0xd0 + (rst++ % 8);
    }
    out[o++] = raw[i];
    if (raw[i] === 0xff) out[o++] = 0x00;
  }
  return out.subarray(0, o);
}

function syntheticJpeg(scanMb) {
  const width = 4000;
  const height = 3000;
  // Exif: big-endian TIFF, IFD0 = Orientation 6 + a MakerNote (UNDEFINED) holding 64 KB.
  const makerNote = randomBytes(60 * 1024, 7); // a segment holds at most 65,533 bytes
  const tiff = concat([
    Uint8Array.of(0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 2),
    Uint8Array.of(0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0),
    Uint8Array.of(0x92, 0x7c, 0, 7, ...[24, 16, 8, 0].map((s) => (makerNote.length >>> s) & 0xff), 0, 0, 0, 38),
    Uint8Array.of(0, 0, 0, 0),
    makerNote,
  ]);
  const xmp = ascii(
    `http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>${"<rdf:li>gps 52.37 4.89</rdf:li>".repeat(800)}</x:xmpmeta>`,
  );
  return concat([
    Uint8Array.of(0xff, 0xd8),
    segment(0xe0, Uint8Array.of(...ascii("JFIF\0"), 1, 1, 0, 0, 72, 0, 72, 0, 0)),
    segment(0xe1, concat([ascii("Exif\0\0"), tiff])),
    segment(0xe1, xmp),
    segment(0xe2, concat([ascii("ICC_PROFILE\0"), Uint8Array.of(1, 1), randomBytes(3 * 1024, 3)])),
    segment(0xed, concat([ascii("Photoshop 3.0\0"), randomBytes(8 * 1024, 5)])),
    segment(0xfe, ascii("Shot on a phone. ".repeat(60))),
    segment(0xdb, Uint8Array.of(0x00, ...randomBytes(64, 11))),
    segment(0xdb, Uint8Array.of(0x01, ...randomBytes(64, 13))),
    segment(
      0xc0,
      Uint8Array.of(8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1),
    ),
    segment(
      0xc4,
      Uint8Array.of(0x00, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, ...Array.from({ length: 12 }, (_, i) => i)),
    ),
    segment(0xdd, Uint8Array.of(0, 64)),
    segment(0xda, Uint8Array.of(3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0)),
    scanData(Math.round(scanMb * 1024 * 1024)),
    Uint8Array.of(0xff, 0xd9),
    randomBytes(100 * 1024, 17), // an MPF secondary image, say: dropped
  ]);
}

/** Seconds one call of `fn` takes. */
function timeOnce(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const equal = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const imageLimits = (LIMITS) => ({ maxPixels: LIMITS.mediaMaxPixels, maxBlocks: LIMITS.mediaMaxBlocks });

/**
 * In a child process (`--memory-child <module> <format> <case>`): builds one worst-case file, strips
 * it in place and prints what the call allocated.
 */
async function memoryChild([modulePath, format, name]) {
  const { stripImage, LIMITS } = await import(pathToFileURL(modulePath).href);
  const limits = imageLimits(LIMITS);
  const build = worstCases(LIMITS.mediaMaxBlocks, LIMITS.mediaUploadBytes)[format][name];
  stripImage(build(), limits, { inPlace: true }); // warm-up: the walker's code is compiled outside the measurement
  const input = build();
  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ["gc"] });
  globalThis.gc();
  await settle();
  collections = 0;
  const before = process.memoryUsage();
  const result = stripImage(input, limits, { inPlace: true });
  const after = process.memoryUsage();
  await settle(); // GC entries are delivered asynchronously
  observer.disconnect();
  const allocated = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  const outcome = result.ok ? `stored ${result.image.bytes.length} B` : result.reason;
  console.log(JSON.stringify({ format, file: name, inputBytes: input.length, outcome, allocated, gc: collections }));
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** The memory case: one child process per worst-case file, so no run inherits another's heap. */
function memoryCase(modulePath) {
  const rows = [];
  for (const format of ["jpeg", "png", "webp", "gif"]) {
    for (const name of ["flood", "at cap"]) {
      const flags = ["--expose-gc", "--min-semi-space-size=256", "--max-semi-space-size=256"];
      const args = [...flags, self, "--memory-child", modulePath, format, name];
      const row = JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" }));
      row.ratio = Number((row.allocated / row.inputBytes).toFixed(2));
      rows.push(row);
    }
  }
  return rows;
}

async function main() {
  const scanMb = option("scan-mb", 5);
  const samples = option("samples", 201);
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-strip-"));
  try {
    await run(await bundleStripper(dir), scanMb, samples);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(modulePath, scanMb, samples) {
  const { stripImage, LIMITS } = await import(pathToFileURL(modulePath).href);
  const input = syntheticJpeg(scanMb);
  const limits = imageLimits(LIMITS);

  const check = stripImage(input, limits);
  if (!check.ok) throw new Error(`the synthetic JPEG was rejected: ${check.reason} ${check.detail}`);
  const { image } = check;

  let sink = 0;
  // Every timed call works on its own fresh copy of the input, made just before and outside the timed
  // region, as a request body would be: strip and copy then read memory in the same state, and the
  // in-place strip (which rearranges its buffer) never sees a buffer twice.
  let fresh = input;
  const stripInPlace = () => {
    const r = stripImage(fresh, limits, { inPlace: true });
    sink ^= r.ok ? r.image.bytes.length : 0;
  };
  const stripCopying = () => {
    const r = stripImage(fresh, limits);
    sink ^= r.ok ? r.image.bytes.length : 0;
  };
  const copy = () => {
    sink ^= fresh.slice().length;
  };
  const inPlaceCheck = stripImage(input.slice(), limits, { inPlace: true });
  if (!inPlaceCheck.ok || !equal(inPlaceCheck.image.bytes, image.bytes)) throw new Error("in-place output differs");

  const run = { inPlace: stripInPlace, copying: stripCopying, copy };
  const times = { inPlace: [], copying: [], copy: [] };
  // Warm-up (JIT every path), then the three alternate call by call and each reports its median:
  // whatever else the machine is doing hits all of them alike, and outliers drop out.
  for (let i = 0; i < 10 + samples; i++) {
    for (const name of Object.keys(run)) {
      fresh = input.slice();
      const seconds = timeOnce(run[name]);
      if (i >= 10) times[name].push(seconds);
    }
  }
  const mb = input.length / 1e6;
  const stripMBs = mb / median(times.inPlace);
  const copyingMBs = mb / median(times.copying);
  const copyMBs = mb / median(times.copy);
  const ratio = stripMBs / copyMBs;
  const result = {
    scenario: "strip",
    image: `${image.width}×${image.height} JPEG`,
    inputBytes: input.length,
    outputBytes: image.bytes.length,
    orientation: image.orientation,
    samples,
    stripMBs: Number(stripMBs.toFixed(1)),
    stripCopyingMBs: Number(copyingMBs.toFixed(1)),
    copyMBs: Number(copyMBs.toFixed(1)),
    ratio: Number(ratio.toFixed(3)),
    ratioCopying: Number((copyingMBs / copyMBs).toFixed(3)),
    target: TARGET_RATIO,
    node: process.version,
  };
  // Read the results the timed calls produced, so no engine can drop those calls as dead code.
  if (sink === -1) console.log("unreachable");
  result.memory = memoryCase(modulePath);
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(
    `strip: ${result.image}, ${(input.length / 1e6).toFixed(2)} MB in → ${(image.bytes.length / 1e6).toFixed(2)} MB out (orientation ${image.orientation} kept)`,
  );
  console.log(`  strip   ${result.stripMBs} MB/s in place, as uploads run (median of ${samples} calls)`);
  console.log(`  strip   ${result.stripCopyingMBs} MB/s into a new buffer (${result.ratioCopying}× copy)`);
  console.log(`  copy    ${result.copyMBs} MB/s (Uint8Array.prototype.slice of the same buffer)`);
  console.log(`  ratio   ${result.ratio}× copy (target ≥ ${TARGET_RATIO}×)`);
  console.log("memory: what one in-place strip allocates, worst-case files (a child process each)");
  const size = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} KB`);
  for (const row of result.memory) {
    const file = `${row.format.padEnd(5)} ${row.file.padEnd(7)} ${size(row.inputBytes).padStart(9)}`;
    const allocated = `${(row.allocated / 1e6).toFixed(2)} MB`.padStart(9);
    console.log(`  ${file} → ${row.outcome.padEnd(20)} ${allocated} (${row.ratio}× the file, gc ${row.gc})`);
  }
}

const child = process.argv.indexOf("--memory-child");
if (child > 0) await memoryChild(process.argv.slice(child + 1));
else await main();
