/** Reading Set-Cookie answers and building Cookie headers, as a browser would. */
export interface SetCookie {
  name: string;
  value: string;
  attributes: Map<string, string>;
}

export function parseSetCookies(res: Response): Map<string, SetCookie> {
  const out = new Map<string, SetCookie>();
  for (const line of res.headers.getSetCookie()) {
    const [pair = "", ...attrs] = line.split(";").map((s) => s.trim());
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq);
    const attributes = new Map<string, string>();
    for (const attr of attrs) {
      const i = attr.indexOf("=");
      attributes.set((i === -1 ? attr : attr.slice(0, i)).toLowerCase(), i === -1 ? "" : attr.slice(i + 1));
    }
    out.set(name, { name, value: decodeURIComponent(pair.slice(eq + 1)), attributes });
  }
  return out;
}

export function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join("; ");
}
