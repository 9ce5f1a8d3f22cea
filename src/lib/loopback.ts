/**
 * Whether a request URL names this machine: localhost, 127.0.0.0/8 or [::1]. Development routes are
 * served only there. On Cloudflare a request reaches the Worker only through a hostname routed to it,
 * so a deployed Worker never sees a loopback host whatever Host header a client sends; locally,
 * `wrangler dev` and the tests keep the host they were called with.
 */

/** 127.0.0.0/8 as the URL parser writes it (it turns 127.1, 0x7f.0.0.1 and friends into dotted quads). */
const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * True for a URL whose hostname is a loopback name or address. The URL parser normalises the host
 * first (lowercase, IPv4 shorthands expanded, IPv6 compressed: [0:0::1] is [::1]), so only canonical
 * forms are compared; anything unparseable is not loopback.
 */
export function isLoopbackUrl(url: string | URL): boolean {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return false;
  }
  return hostname === "localhost" || hostname === "[::1]" || IPV4_LOOPBACK.test(hostname);
}
