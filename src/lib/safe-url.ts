/**
 * Outgoing-URL safety: the one place that decides whether a URL a user typed (a profile link, a
 * webhook endpoint) may be stored and later fetched or shown. It refuses what would reach, by its
 * spelling, this platform's or a cloud provider's internal network (SSRF) instead of the public web.
 *
 * The URL is parsed by the WHATWG URL parser, the same one `fetch` and browsers use, and only the
 * parsed host is judged: never a regex over the raw string, whose reading could differ from the
 * fetcher's. The parser already canonicalises the spellings attackers rely on — decimal
 * (2130706433), octal (0177.0.0.1), hex (0x7f.1), short (127.1), percent-encoded and full-width
 * digits and dots all become a dotted quad; IPv6 is compressed and its embedded dotted quads written
 * as hex; hostnames are lowercased and IDNA-mapped to punycode — so the rules below compare only
 * canonical forms. Callers store `url.href`, never the input.
 *
 * What a spelling check cannot see is DNS: a public name may resolve (or later rebind) to a private
 * address. That is left to the fetching side: webhook deliveries must not follow redirects (each
 * hop would need this check again) and run on Workers, whose egress cannot reach private networks.
 * Well-known wildcard names that resolve to whatever address they spell (nip.io, sslip.io,
 * localtest.me …) are refused here since their spelling says where they go.
 *
 * Decisions:
 * - IPv6 is allow-listed: only global unicast (2000::/3) passes, minus documentation (2001:db8::/32,
 *   3fff::/20) and the IETF protocol block 2001::/23 — which holds Teredo (2001::/32), refused whole
 *   rather than de-obfuscating its client address: no real link or endpoint uses it. Forms that embed
 *   an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, SIIT ::ffff:0:0:0/96, NAT64
 *   64:ff9b::/96, 6to4 2002::/16) are judged by that address.
 * - Names under the special-use and private-use suffixes (RFC 6761, 6762 appendix G, 8375, ICANN's
 *   .internal) and every single-label name (an intranet name the resolver completes) are internal.
 *   The RFC 2606 test names (.test, .example, .invalid) are not refused: they never resolve publicly,
 *   and tests use them for faked endpoints.
 */

export type UnsafeUrlReason =
  | "invalid"
  | "too-long"
  | "not-http"
  | "credentials"
  | "loopback"
  | "private-address"
  | "link-local"
  | "metadata"
  | "multicast"
  | "unspecified"
  | "reserved-address"
  | "internal-host";

export type SafeUrlResult = { ok: true; url: URL } | { ok: false; reason: UnsafeUrlReason };

export interface SafeUrlOptions {
  /**
   * Development only (OUTGOING_ALLOW_LOOPBACK=1): lets exactly 127.0.0.1, [::1] and localhost through,
   * so a local receiver can get webhook deliveries. Never set in production.
   */
  allowLoopback?: boolean;
  /** Longest accepted URL, raw and serialised; the contract's 2,048 unless a caller needs fewer. */
  maxLength?: number;
}

export const MAX_URL_LENGTH = 2048;

/** Judges `input` as an outgoing URL; on success `url` is the parsed form to store (`url.href`). */
export function checkSafeUrl(input: string, options: SafeUrlOptions = {}): SafeUrlResult {
  const maxLength = options.maxLength ?? MAX_URL_LENGTH;
  if (typeof input !== "string" || input.length === 0) return refuse("invalid");
  // Before parsing, so an oversized input costs nothing; after, because encoding can lengthen it.
  if (input.length > maxLength) return refuse("too-long");
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return refuse("invalid");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return refuse("not-http");
  if (url.href.length > maxLength) return refuse("too-long");
  if (url.username !== "" || url.password !== "") return refuse("credentials");

  if (options.allowLoopback && LOOPBACK_ALLOWED.has(url.hostname)) return { ok: true, url };
  const reason = hostReason(url.hostname);
  return reason ? refuse(reason) : { ok: true, url };
}

const LOOPBACK_ALLOWED: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]", "localhost"]);

function refuse(reason: UnsafeUrlReason): SafeUrlResult {
  return { ok: false, reason };
}

/** Why a parsed (canonical) hostname is unsafe, or null when it names the public internet. */
export function hostReason(hostname: string): UnsafeUrlReason | null {
  if (hostname.startsWith("[")) {
    const groups = parseIPv6(hostname.slice(1, -1));
    return groups ? ipv6Reason(groups) : "invalid";
  }
  const v4 = parseDottedQuad(hostname);
  if (v4 !== null) return ipv4Reason(v4);
  return nameReason(hostname);
}

// ---------------------------------------------------------------------------------------------------
// IPv4. Ranges from the IANA IPv4 Special-Purpose Address Registry (RFC 6890 and successors).

interface Range {
  base: number;
  bits: number;
  reason: UnsafeUrlReason;
}

function v4(dotted: string): number {
  return dotted.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

function range(cidr: string, reason: UnsafeUrlReason): Range {
  const [base = "", bits = ""] = cidr.split("/");
  return { base: v4(base), bits: Number(bits), reason };
}

/** Metadata services, answered before their enclosing ranges so the reason names them. */
const IPV4_METADATA: ReadonlySet<number> = new Set(
  [
    "169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean instance metadata
    "169.254.170.2", // AWS ECS task metadata and credentials
    "100.100.100.200", // Alibaba Cloud
    "168.63.129.16", // Azure WireServer: a public address that answers only from inside Azure
    "192.0.0.192", // Oracle Cloud (classic)
  ].map(v4),
);

const IPV4_RANGES: readonly Range[] = [
  range("0.0.0.0/8", "unspecified"), // "this network" (RFC 1122); 0.0.0.0 reaches the local host
  range("10.0.0.0/8", "private-address"), // RFC 1918
  range("100.64.0.0/10", "private-address"), // CGNAT shared space (RFC 6598)
  range("127.0.0.0/8", "loopback"),
  range("169.254.0.0/16", "link-local"),
  range("172.16.0.0/12", "private-address"), // RFC 1918
  range("192.0.0.0/24", "reserved-address"), // IETF protocol assignments
  range("192.0.2.0/24", "reserved-address"), // TEST-NET-1 documentation
  range("192.88.99.0/24", "reserved-address"), // deprecated 6to4 relay anycast
  range("192.168.0.0/16", "private-address"), // RFC 1918
  range("198.18.0.0/15", "reserved-address"), // benchmarking (RFC 2544)
  range("198.51.100.0/24", "reserved-address"), // TEST-NET-2
  range("203.0.113.0/24", "reserved-address"), // TEST-NET-3
  range("224.0.0.0/4", "multicast"),
  range("240.0.0.0/4", "reserved-address"), // future use, and 255.255.255.255 broadcast
];

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The 32-bit value of a canonical dotted quad, or null. */
function parseDottedQuad(text: string): number | null {
  const match = DOTTED_QUAD.exec(text);
  if (!match) return null;
  const parts = match.slice(1).map(Number);
  if (parts.some((part) => part > 255)) return null;
  return parts.reduce((acc, part) => acc * 256 + part, 0);
}

function inRange(address: number, { base, bits }: Range): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(address / size) === Math.floor(base / size);
}

function ipv4Reason(address: number): UnsafeUrlReason | null {
  if (IPV4_METADATA.has(address)) return "metadata";
  return IPV4_RANGES.find((r) => inRange(address, r))?.reason ?? null;
}

// ---------------------------------------------------------------------------------------------------
// IPv6, as eight 16-bit groups. Ranges from the IANA IPv6 Special-Purpose Address Registry.

/** Parses the text between the brackets (the parser's canonical form, or any valid spelling). */
function parseIPv6(text: string): number[] | null {
  let head = text;
  const tail: number[] = [];
  // A trailing dotted quad (::ffff:1.2.3.4) becomes its two groups.
  const lastColon = head.lastIndexOf(":");
  const quad = parseDottedQuad(head.slice(lastColon + 1));
  if (quad !== null) {
    tail.push(Math.floor(quad / 0x10000), quad % 0x10000);
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (part: string | undefined): number[] | null => {
    if (!part) return [];
    const groups = part.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? Number.parseInt(g, 16) : Number.NaN));
    return groups.some(Number.isNaN) ? null : groups;
  };
  const left = groupsOf(halves[0]);
  const right = groupsOf(halves[1]);
  if (!left || !right) return null;
  const given = left.length + right.length + tail.length;
  if (halves.length === 1) return given === 8 ? [...left, ...tail] : null;
  if (given > 7) return null;
  return [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail];
}

function embeddedV4(groups: readonly number[], from: number): number {
  return (groups[from] ?? 0) * 0x10000 + (groups[from + 1] ?? 0);
}

/** The address as lowercase hex, groups separated by ":", for the exact-match table below. */
const IPV6_METADATA: ReadonlySet<string> = new Set([
  "fd00:ec2:0:0:0:0:0:254", // AWS instance metadata over IPv6
]);

function ipv6Reason(g: readonly number[]): UnsafeUrlReason | null {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  if (IPV6_METADATA.has(g.map((x) => x.toString(16)).join(":"))) return "metadata";
  const firstSixZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0;
  if (firstSixZero && g6 === 0 && g7 === 0) return "unspecified";
  if (firstSixZero && g6 === 0 && g7 === 1) return "loopback";
  // ::a.b.c.d, IPv4-compatible (deprecated by RFC 4291 §2.5.5.1): refused whatever it embeds.
  if (firstSixZero) return ipv4Reason(embeddedV4(g, 6)) ?? "reserved-address";
  const firstFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // ::ffff:a.b.c.d, IPv4-mapped: the socket talks IPv4 to the embedded address.
  if (firstFiveZero && g5 === 0xffff) return ipv4Reason(embeddedV4(g, 6));
  // ::ffff:0:a.b.c.d, SIIT IPv4-translated (RFC 6052 predecessor, RFC 7915).
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0xffff && g5 === 0) {
    return ipv4Reason(embeddedV4(g, 6)) ?? "reserved-address";
  }
  // 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052): a translator reaches the embedded address.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return ipv4Reason(embeddedV4(g, 6));
  }
  // 2002::/16, 6to4 (RFC 3056): the embedded address is the tunnel's IPv4 end.
  if (g0 === 0x2002) return ipv4Reason(embeddedV4(g, 1));
  if ((g0 & 0xff00) === 0xff00) return "multicast";
  if ((g0 & 0xffc0) === 0xfe80) return "link-local";
  if ((g0 & 0xffc0) === 0xfec0) return "private-address"; // site-local, deprecated by RFC 3879
  if ((g0 & 0xfe00) === 0xfc00) return "private-address"; // unique local fc00::/7
  // Everything else outside global unicast 2000::/3 (64:ff9b:1::/48 local NAT64, 100::/64 discard, …).
  if ((g0 & 0xe000) !== 0x2000) return "reserved-address";
  if (g0 === 0x2001 && g1 < 0x200) return "reserved-address"; // 2001::/23 IETF protocol block, Teredo included
  if (g0 === 0x2001 && g1 === 0xdb8) return "reserved-address"; // documentation
  if (g0 === 0x3fff && g1 < 0x1000) return "reserved-address"; // 3fff::/20 documentation (RFC 9637)
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Names.

/** Suffixes whose every name is internal: special-use (RFC 6761), mDNS (.local), home networks
 * (RFC 8375), ICANN's private-use .internal, and RFC 6762 appendix G's commonly squatted ones. */
const INTERNAL_SUFFIXES: readonly string[] = [
  "localhost",
  "local",
  "localdomain",
  "internal",
  "intranet",
  "private",
  "corp",
  "home",
  "lan",
  "home.arpa",
  "arpa", // reverse-lookup names (1.0.0.127.in-addr.arpa) are nobody's web page
];

/** Wildcard DNS services that answer with whatever address the name spells (127.0.0.1.nip.io). */
const SPELLED_ADDRESS_DOMAINS: readonly string[] = [
  "nip.io",
  "sslip.io",
  "xip.io",
  "traefik.me",
  "localtest.me",
  "lvh.me",
  "vcap.me",
  "lacolhost.com",
  "local.gd",
];

const METADATA_NAMES: ReadonlySet<string> = new Set(["metadata.google.internal", "metadata.goog", "metadata"]);

function isUnder(name: string, suffix: string): boolean {
  return name === suffix || name.endsWith(`.${suffix}`);
}

function nameReason(hostname: string): UnsafeUrlReason | null {
  // A trailing dot is the fully qualified spelling of the same name (localhost. is localhost).
  const name = hostname.replace(/\.+$/, "");
  const labels = name.split(".");
  if (labels.some((label) => label === "")) return "invalid";
  // The parser turns any host ending in a number into an IPv4 address or refuses it; be sure anyway.
  if (/^(?:0x[0-9a-f]*|\d+)$/.test(labels[labels.length - 1] ?? "")) return "invalid";
  if (METADATA_NAMES.has(name)) return "metadata";
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback";
  if (labels.length < 2) return "internal-host";
  if (INTERNAL_SUFFIXES.some((suffix) => isUnder(name, suffix))) return "internal-host";
  if (SPELLED_ADDRESS_DOMAINS.some((domain) => isUnder(name, domain))) return "internal-host";
  return null;
}
