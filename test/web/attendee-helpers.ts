/** Fixtures the attendee page tests share: a signed-in buyer, the order form's fields, names and times. */
import { buyers } from "../features/events/helpers";
import { Browser, type Page, textOf } from "./browser";

export type Buyer = Awaited<ReturnType<typeof buyers>>[number];

/** A browser signed in as a new buyer. */
export async function signedIn(): Promise<{ browser: Browser; buyer: Buyer }> {
  const [buyer] = await buyers(1);
  if (!buyer) throw new Error("no buyer");
  const browser = new Browser();
  browser.cookies.set("__Host-access", buyer.token);
  return { browser, buyer };
}

export const at = (ms: number) => new Date(ms).toISOString();
export const unique = (prefix: string) => `${prefix} ${crypto.randomUUID().slice(0, 8)}`;

/** The order form's fields as the page rendered them (hidden key, first quantity option). */
export function orderFields(page: Page): Record<string, string> {
  const key = /name="key" value="([^"]+)"/.exec(page.html)?.[1];
  if (!key) throw new Error(`no order form on the page: ${textOf(page.html).slice(0, 300)}`);
  return { key, quantity: "1" };
}

export const hasOrderForm = (page: Page, eventId: string) => page.html.includes(`action="/e/${eventId}/order"`);
