/** Redirect-target validation: the one place that decides whether a user-supplied `next` URL may be followed. */

export interface SafeRedirectOptions {
  /** This deployment's origin, e.g. `https://gatehouse.test`; relative targets must resolve to it. */
  selfOrigin: string;
  /** Further origins absolute targets may point at (e.g. the front-end app). */
  allowedOrigins: readonly string[];
  /** Returned when the target is rejected; defaults to `/`. */
  fallback?: string;
}

export type SafeRedirectPolicy = Pick<SafeRedirectOptions, "selfOrigin" | "allowedOrigins">;

const MAX_TARGET_LENGTH = 2048;

// Each round peels one layer of encoding; a legitimate target is at most double-encoded by a chain of
// `next=` parameters, so anything still changing after this many rounds is an evasion attempt.
const MAX_DECODE_ROUNDS = 4;

// Relative targets: a single "/" followed by anything but "/" or "\", because "//host" and "/\host"
// are protocol-relative to browsers and leave the site.
const RELATIVE_SHAPE = /^\/(?![/\\])/;

// Absolute targets: scheme, exactly two slashes, then a plain ASCII host[:port]. An allowlist rather than
// a blocklist, so "@" (userinfo), "%" (percent-decoded by the host parser), "\" and every non-ASCII
// look-alike fall out without being enumerated.
const ABSOLUTE_SHAPE = /^https?:\/\/[A-Za-z0-9.\-:[\]]+(?:[/?#]|$)/i;

// Controls (C0, DEL, C1), format characters (zero-width, bidi overrides and isolates, BOM, soft hyphen),
// unassigned/private-use code points and every Unicode space or line separator. The URL parser strips
// or ignores several of these, so what the check sees would not be what the browser follows. The plain
// ASCII space is judged separately because `%20` inside a path or query is legitimate.
const INVISIBLE_OR_CONTROL = /(?! )[\p{C}\p{Z}]/u;

// IDNA maps these to "." in hostnames without NFKC producing ASCII, so the generic check below misses them.
const IDEOGRAPHIC_DOTS = /[\u3002\uFF61]/;

/** The normalised target when it is safe to redirect to, otherwise `options.fallback` (default `/`). */
export function safeRedirect(target: string | null | undefined, options: SafeRedirectOptions): string {
  return validate(target, options) ?? options.fallback ?? "/";
}

/** Whether `target` would be accepted by {@link safeRedirect}. */
export function isSafeRedirect(target: string | null | undefined, options: SafeRedirectPolicy): boolean {
  return validate(target, options) !== null;
}

function validate(target: string | null | undefined, options: SafeRedirectPolicy): string | null {
  const selfOrigin = originOf(options.selfOrigin);
  const allowed = new Set([selfOrigin, ...options.allowedOrigins.map(originOf)]);
  if (typeof target !== "string" || target.length === 0 || target.length > MAX_TARGET_LENGTH) return null;
  // Literal spaces never come out of an encoder, and leading/trailing ones are silently trimmed by the parser.
  if (target.includes(" ")) return null;

  const decoded = fullyDecode(target);
  if (decoded === null) return null;
  // Every character of the raw target survives decoding, so checking the decoded form covers both.
  if (hasForbiddenCharacters(decoded)) return null;

  if (RELATIVE_SHAPE.test(target) && RELATIVE_SHAPE.test(decoded)) {
    const url = parse(target, selfOrigin);
    // The decoded form must stay on-site too: an encoded "/" or "\" that turns into "//host" after a
    // downstream decode is exactly the ambiguity attackers rely on.
    if (!url || url.origin !== selfOrigin || parse(decoded, selfOrigin)?.origin !== selfOrigin) return null;
    const relative = url.pathname + url.search + url.hash;
    // Dot-segment removal can collapse "/.//evil.com" into a "//evil.com" path.
    return RELATIVE_SHAPE.test(relative) ? relative : null;
  }

  if (ABSOLUTE_SHAPE.test(target) && ABSOLUTE_SHAPE.test(decoded)) {
    const url = parse(target, selfOrigin);
    const decodedUrl = parse(decoded, selfOrigin);
    if (!url || !decodedUrl || !isAllowedAbsolute(url, allowed) || !isAllowedAbsolute(decodedUrl, allowed)) return null;
    return url.href;
  }

  return null;
}

function isAllowedAbsolute(url: URL, allowed: ReadonlySet<string>): boolean {
  return url.username === "" && url.password === "" && allowed.has(url.origin);
}

/** Percent-decodes until stable; null when the encoding is malformed or nested suspiciously deep. */
function fullyDecode(value: string): string | null {
  let current = value;
  for (let round = 0; round <= MAX_DECODE_ROUNDS; round++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return null;
    }
    if (next === current) return current;
    current = next;
  }
  return null;
}

function hasForbiddenCharacters(value: string): boolean {
  if (value.includes("\\") || INVISIBLE_OR_CONTROL.test(value) || IDEOGRAPHIC_DOTS.test(value)) return true;
  if (value.startsWith(" ") || value.endsWith(" ")) return true;
  for (const char of value) {
    // Full-width and other compatibility forms (．／＠ｅｖｉｌ, ℀ …) normalise to URL syntax in some parsers
    // and to ASCII hostnames under IDNA, so a look-alike never gets the benefit of the doubt.
    if (char.charCodeAt(0) > 0x7f && /[\x20-\x7e]/.test(char.normalize("NFKC"))) return true;
  }
  return false;
}

function parse(value: string, base?: string): URL | null {
  try {
    return new URL(value, base);
  } catch {
    return null;
  }
}

/** Normalises a configured origin; throws on a misconfiguration rather than silently allowing nothing. */
function originOf(value: string): string {
  const url = parse(value);
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new TypeError(`safeRedirect: not an http(s) origin: ${JSON.stringify(value)}`);
  }
  return url.origin;
}
