/**
 * Creator handles (`/@handle`): the one rule for what a handle may be and the key it is unique by.
 *
 * A handle is normalised before any comparison: Unicode NFKC (compatibility forms fold into their
 * plain spelling: full-width ｊｏｈｎ, mathematical 𝐣𝐨𝐡𝐧, the Kelvin sign K, ligatures ﬁ), then
 * lowercased, then trimmed. Only then is it held to 3–30 characters of [a-z0-9_.], so every
 * compatibility spelling either collides with its plain form (one UNIQUE key) or is refused; a
 * look-alike from another script (Cyrillic а, Greek ο, Turkish ı) never maps into that range and is
 * refused as invalid characters, so no two visually equal handles can both exist.
 *
 * The displayed handle is the key itself (decision): keeping the owner's case or compatibility
 * spelling for display would let `/@Admin_Team` and `/@admin_team` look like different people while
 * being one, and every other rule (links, redirects, mentions) would need to choose between them.
 */

export const HANDLE_MIN_LENGTH = 3;
export const HANDLE_MAX_LENGTH = 30;

// NFKC never deletes, and no input takes more than two UTF-16 units (an astral compatibility letter
// such as 𝐚) per handle character, so a valid handle is at most 60 units plus whitespace that trim
// removes. Anything past this bound is refused before normalising: a megabyte of input costs nothing.
const MAX_RAW_LENGTH = HANDLE_MAX_LENGTH * 4;

const HANDLE_CHARACTERS = /^[a-z0-9_.]+$/;

/**
 * Names a handle may not take: the site's own paths and API segments (a `/@api` or `/@login` page
 * would impersonate the platform), brand and staff words, mail role accounts (RFC 2142), and
 * programming sentinels that break naive code. Compared after normalisation, and again with dots and
 * underscores removed (`g.a.t.e.h.o.u.s.e`, `admin_`).
 */
export const RESERVED_HANDLES: readonly string[] = Object.freeze([
  // Routes and path segments.
  "api",
  "www",
  "login",
  "logout",
  "register",
  "signup",
  "signin",
  "feed",
  "me",
  "settings",
  "about",
  "terms",
  "privacy",
  "security",
  "help",
  "support",
  "scan",
  "host",
  "hosts",
  "e",
  "p",
  "l",
  "assets",
  "media",
  "dev",
  "docs",
  "openapi",
  "health",
  "status",
  "billing",
  "payments",
  "events",
  "tickets",
  "verifyemail",
  "forgotpassword",
  "resetpassword",
  // Brand and staff.
  "gatehouse",
  "official",
  "team",
  "staff",
  "admin",
  "administrator",
  "mod",
  "moderator",
  "root",
  "system",
  // Mail role accounts.
  "abuse",
  "postmaster",
  "webmaster",
  "hostmaster",
  "noreply",
  "mail",
  "email",
  // Sentinels.
  "null",
  "undefined",
]);

const RESERVED: ReadonlySet<string> = new Set(RESERVED_HANDLES);

export type HandleRefusal = "too-short" | "too-long" | "invalid-characters" | "dots" | "reserved";

export type HandleResult =
  | {
      ok: true;
      /** What the page shows; equal to `key` (see the file header). */
      handle: string;
      /** What the UNIQUE index compares (profiles.handle_key) and lookups use. */
      key: string;
    }
  | { ok: false; reason: HandleRefusal };

/** NFKC, then lowercased, then trimmed: the form every comparison uses. */
export function normalizeHandle(input: string): string {
  return input.normalize("NFKC").toLowerCase().trim();
}

/** Whether `input` may be claimed as a handle, and the key it would be unique by. */
export function validateHandle(input: string): HandleResult {
  if (typeof input !== "string") return { ok: false, reason: "invalid-characters" };
  if (input.length > MAX_RAW_LENGTH) return { ok: false, reason: "too-long" };
  const key = normalizeHandle(input);
  if (key.length < HANDLE_MIN_LENGTH) return { ok: false, reason: "too-short" };
  if (key.length > HANDLE_MAX_LENGTH) return { ok: false, reason: "too-long" };
  if (!HANDLE_CHARACTERS.test(key)) return { ok: false, reason: "invalid-characters" };
  if (key.startsWith(".") || key.endsWith(".") || key.includes("..")) return { ok: false, reason: "dots" };
  if (isReserved(key)) return { ok: false, reason: "reserved" };
  return { ok: true, handle: key, key };
}

function isReserved(key: string): boolean {
  return RESERVED.has(key) || RESERVED.has(key.replace(/[._]/g, ""));
}
