#!/usr/bin/env node
/**
 * `npm run lock:complete`: adds lock entries for the other platforms' optional binaries (Biome,
 * workerd) when `npm install` left them out. A registry that serves only this platform's packages
 * makes npm write a lock without them, and `npm ci` then refuses the lock everywhere. The entries
 * carry version, os, cpu (and libc) so each platform's npm picks its own binary and skips the rest.
 * Run it after changing dependencies; it only adds what is missing.
 */
import { readFileSync, writeFileSync } from "node:fs";

const path = process.argv[2] ?? new URL("../package-lock.json", import.meta.url).pathname;
const lock = JSON.parse(readFileSync(path, "utf8"));
const pkgs = lock.packages;
const platform = (name) => {
  const n = name.split("/").pop();
  const os = /android/.test(n) ? "android" : /darwin/.test(n) ? "darwin" : /win32|windows/.test(n) ? "win32" : "linux";
  const cpu = /arm64/.test(n) ? "arm64" : "x64";
  const libc = /musl/.test(n) ? ["musl"] : undefined;
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) };
};
let added = 0;
for (const meta of Object.values(pkgs)) {
  for (const [dep, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const target = `node_modules/${dep}`;
    if (pkgs[target]) continue;
    pkgs[target] = { version: range, optional: true, ...platform(dep) };
    added++;
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added}`);
