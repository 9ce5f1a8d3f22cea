/**
 * A small browser for page tests: keeps cookies between requests (like a cookie jar, by name), sends
 * what a browser sends (Accept: text/html, Origin and Sec-Fetch-Site on form posts), and submits
 * forms with the CSRF token the last page rendered. Redirects are not followed: tests assert them.
 */
import { call, freshIp } from "../helpers";

export const ORIGIN = "https://gatehouse.test";

export interface Page {
  status: number;
  headers: Headers;
  html: string;
  location: string | null;
}

export class Browser {
  readonly cookies = new Map<string, string>();
  readonly ip = freshIp();
  csrf: string | undefined;

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  private remember(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === "";
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(path: string, init: RequestInit = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    if (!headers.has("Accept")) headers.set("Accept", "text/html,application/xhtml+xml");
    if (this.cookies.size > 0) headers.set("Cookie", this.cookieHeader());
    const response = await call(path, { ...init, headers, ip: this.ip, redirect: "manual" });
    this.remember(response);
    const html = await response.text();
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1];
    if (token) this.csrf = token;
    return { status: response.status, headers: response.headers, html, location: response.headers.get("Location") };
  }

  get(path: string): Promise<Page> {
    return this.request(path);
  }

  /** Posts a form as the page would: urlencoded, same-origin, with the page's CSRF token. */
  submit(path: string, fields: Record<string, string>, options: { csrf?: string | null; origin?: string } = {}) {
    const body = new URLSearchParams(fields);
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf) body.set("_csrf", csrf);
    return this.request(path, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Origin: options.origin ?? ORIGIN,
        "Sec-Fetch-Site": options.origin && options.origin !== ORIGIN ? "cross-site" : "same-origin",
      },
      body,
    });
  }
}

/** The text content of the page, tags stripped and whitespace collapsed (for "the page says …"). */
export function textOf(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/g, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .trim();
}
