/**
 * The client address, for rate limiting and audit. Only `CF-Connecting-IP` is trusted: Cloudflare
 * sets it at the edge and overwrites any client-supplied value, whereas `X-Forwarded-For` is
 * whatever the client wrote.
 */

/** The connecting address, or null when the request did not come through Cloudflare's edge. */
export function clientIp(headers: Headers): string | null {
  const ip = headers.get("CF-Connecting-IP")?.trim();
  return ip ? ip : null;
}

/**
 * The rate-limit key for an address. IPv6 is grouped by its /64: one subscriber is routinely given a
 * whole /64, so per-address limits would hand an attacker 2^64 fresh budgets.
 */
export function ipKey(ip: string): string {
  if (!ip.includes(":")) return `ip:${ip}`;
  const groups = expandIpv6(ip);
  if (!groups) return `ip:${ip.toLowerCase()}`;
  // IPv4-mapped (::ffff:a.b.c.d) is an IPv4 client.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const v4 = [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff];
    return `ip:${v4.join(".")}`;
  }
  return `ip:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** Eight 16-bit groups, or null when `ip` is not a valid IPv6 literal. */
function expandIpv6(input: string): number[] | null {
  let ip = input.toLowerCase();
  const zone = ip.indexOf("%");
  if (zone !== -1) ip = ip.slice(0, zone);
  // A trailing embedded IPv4 (::ffff:1.2.3.4) becomes two groups.
  const v4 = ip.match(/(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (v4) {
    const o = v4.slice(1).map(Number);
    if (o.some((n) => n > 255)) return null;
    ip = `${ip.slice(0, v4.index)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0)) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const groups: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    groups.push(Number.parseInt(g, 16));
  }
  return groups;
}
