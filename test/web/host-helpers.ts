/** Fixtures the host page tests share: a signed-in host, the form's field errors, a valid event form. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { createUser, login } from "../features/auth/helpers";
import { Browser } from "./browser";

/** A browser signed in as a new user (a host unless told otherwise), and that user's bearer token. */
export async function signedIn(options: { roles?: string[]; name?: string } = {}) {
  const user = await createUser({ roles: options.roles ?? ["attendee", "host"], name: options.name });
  const tokens = await login(user.email, user.password);
  const browser = new Browser();
  browser.cookies.set("__Host-access", tokens.accessToken);
  browser.cookies.set("__Host-refresh", tokens.refreshToken);
  return { user, browser, token: tokens.accessToken };
}

export function decode(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

export const fieldId = (path: string) => `f-${path.replace(/[^a-zA-Z0-9_-]/g, "-")}`;

/** The message shown next to the input for `path`, checked to be tied to the input for assistive tech. */
export function fieldError(html: string, path: string): string | null {
  const id = fieldId(path);
  const message = new RegExp(`<p class="field-error" id="${id}-error">([^<]*)</p>`).exec(html)?.[1];
  if (message === undefined) return null;
  const input = new RegExp(`<(input|textarea|select) id="${id}"[^>]*>`).exec(html)?.[0] ?? "";
  expect(input, `${path} input`).toContain('aria-invalid="true"');
  expect(input, `${path} input`).toMatch(new RegExp(`aria-describedby="[^"]*${id}-error`));
  return decode(message);
}

export const nextYear = new Date().getUTCFullYear() + 1;

/** A complete, valid event form as a host fills it in (times in Amsterdam, summer time: UTC+2). */
export function eventForm(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    title: "Harbour Lights",
    description: "<p>Bring a coat.</p>",
    timezone: "Europe/Amsterdam",
    startsAt: `${nextYear}-07-14T19:00`,
    endsAt: `${nextYear}-07-14T23:00`,
    "venue.name": "De Kade",
    "venue.address": "Kade 1, Amsterdam",
    "venue.lat": "52.37",
    "venue.lng": "4.89",
    capacity: "120",
    price: "12.50",
    currency: "EUR",
    perUserLimit: "",
    salesStartAt: "",
    salesEndAt: "",
    checkInOpensAt: "",
    checkInClosesAt: "",
    ...overrides,
  };
}

export interface EventDbRow {
  id: string;
  created_at: number;
  title: string;
  status: string;
  version: number;
  capacity: number;
  starts_at: number;
  ends_at: number;
  price: number;
  currency: string;
  per_user_limit: number;
  lat: number;
  sales_start_at: number | null;
  check_in_opens_at: number;
  check_in_closes_at: number;
}

export function eventRow(id: string) {
  return env.DB.prepare("SELECT * FROM events WHERE id = ?").bind(id).first<EventDbRow>();
}
