/**
 * What a browser test needs from the Worker besides the browser: the dev mailbox (GET /dev/mailbox,
 * development only), accounts, events, devices and scans, all through the public API or the /dev
 * routes, never the database. A test sets things up here, then does in the browser what it tests.
 */
import { randomUUID } from "node:crypto";
import { type APIRequestContext, expect, type Page } from "@playwright/test";

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
  template: string;
  createdAt: string;
}

export interface Account {
  email: string;
  password: string;
  name: string;
}

export interface MyTicket {
  id: string;
  serial: number;
  status: string;
  redeemedAt: string | null;
  event: { id: string; title: string };
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

/** The demo host `POST /dev/seed` creates (src/features/dev/seed.ts). */
export const DEMO_HOST = { email: "host@gatehouse.local", password: "gatehouse-host-demo", name: "Demo Host" };

const HOUR = 3600 * 1000;

/** A unique address per call: tests run in parallel against one Worker and never share an inbox. */
export function uniqueEmail(label = "person"): string {
  return `${label}-${randomUUID().slice(0, 8)}@example.com`;
}

/** A passphrase the password policy accepts (8+ characters, not common, not the email). */
export function uniquePassword(): string {
  return `e2e ${randomUUID().slice(0, 13)} passphrase`;
}

/** Throws with the status and body when a response is not what the step needed. */
async function ok<T>(response: Awaited<ReturnType<APIRequestContext["get"]>>, what: string): Promise<T> {
  if (!response.ok()) throw new Error(`${what}: ${response.status()} ${await response.text()}`);
  return (response.status() === 204 ? undefined : await response.json()) as T;
}

export interface EventInput {
  title?: string;
  /** Minutes from now; 60 by default, so check-in (from two hours before the start) is open. */
  startsInMinutes?: number;
  /** An exact start (epoch ms) instead. */
  startsAt?: number;
  venue?: { name: string; address: string; lat: number; lng: number };
  capacity?: number;
  price?: number;
  description?: string;
}

/**
 * Signs the page's browser context in through `POST /api/v1/auth/login` with `cookie: true`: the
 * response sets the __Host- session cookies in the context's cookie jar, as the sign-in page would.
 */
export async function signInAs(page: Page, baseURL: string, account: Pick<Account, "email" | "password">) {
  const response = await page.request.post(`${baseURL}/api/v1/auth/login`, {
    data: { email: account.email, password: account.password, cookie: true },
  });
  if (!response.ok()) throw new Error(`sign-in as ${account.email}: ${response.status()} ${await response.text()}`);
  const names = (await page.context().cookies()).map((c) => c.name);
  expect(names, "the sign-in set the session cookies").toEqual(
    expect.arrayContaining(["__Host-access", "__Host-refresh"]),
  );
}

export class Gatehouse {
  constructor(
    readonly request: APIRequestContext,
    readonly baseURL: string,
  ) {}

  /** Emails to `to`, newest first. */
  async mailbox(to: string): Promise<Mail[]> {
    const { items } = await ok<{ items: Mail[] }>(
      await this.request.get(`/dev/mailbox?to=${encodeURIComponent(to)}`),
      "GET /dev/mailbox",
    );
    return items;
  }

  /**
   * The newest email to `to` from `template` (verify-email, reset-password, order-confirmed, …),
   * waiting for it: `after` skips emails that were already there (a second reset link).
   */
  async waitForMail(to: string, template: string, after: Mail[] = []): Promise<Mail> {
    const seen = new Set(after.map((m) => `${m.createdAt}|${m.text}`));
    let found: Mail | undefined;
    await expect
      .poll(
        async () => {
          found = (await this.mailbox(to)).find(
            (m) => m.template === template && !seen.has(`${m.createdAt}|${m.text}`),
          );
          return found !== undefined;
        },
        { message: `a ${template} email to ${to}`, timeout: 15_000 },
      )
      .toBe(true);
    return found!;
  }

  /**
   * The link in an email that leads to `pathname` (e.g. /verify-email), as sent. The email must
   * point at this Worker (PUBLIC_URL), never at a path nothing serves.
   */
  linkIn(mail: Mail, pathname: string): URL {
    const links = (mail.text.match(/https?:\/\/[^\s<>"]+/g) ?? []).map((href) => new URL(href));
    const link = links.find((url) => url.pathname === pathname);
    if (!link) throw new Error(`no ${pathname} link in "${mail.subject}": ${mail.text}`);
    expect(link.origin, "email links point at PUBLIC_URL").toBe(new URL(this.baseURL).origin);
    return link;
  }

  /** The demo data (host, attendee, two events); idempotent. */
  async seed(): Promise<void> {
    await ok(await this.request.post("/dev/seed"), "POST /dev/seed");
  }

  async login(email: string, password: string): Promise<Tokens> {
    return ok<Tokens>(await this.request.post("/api/v1/auth/login", { data: { email, password } }), `login ${email}`);
  }

  /** Registers through the API (the verification email is sent, the address not yet confirmed). */
  async register(account: Account): Promise<void> {
    await ok(await this.request.post("/api/v1/auth/register", { data: account }), `register ${account.email}`);
  }

  /** A new account with its address confirmed through the emailed link's token, as the API does it. */
  async verifiedAccount(label = "attendee", name = `E2E ${label}`): Promise<Account> {
    const account = { email: uniqueEmail(label), password: uniquePassword(), name };
    await this.register(account);
    const token = this.linkIn(await this.waitForMail(account.email, "verify-email"), "/verify-email").searchParams.get(
      "token",
    );
    await ok(
      await this.request.post("/api/v1/auth/verify-email", { data: { token, password: account.password } }),
      "verify-email",
    );
    return account;
  }

  /** The demo host's tokens (seeding first). */
  async hostTokens(): Promise<Tokens> {
    await this.seed();
    return this.login(DEMO_HOST.email, DEMO_HOST.password);
  }

  /** A published event of the demo host; free, starting in an hour (check-in open) unless told otherwise. */
  async publishedEvent(input: EventInput = {}): Promise<{ id: string; title: string }> {
    const { accessToken } = await this.hostTokens();
    const auth = { Authorization: `Bearer ${accessToken}` };
    const startsAt = input.startsAt ?? Date.now() + (input.startsInMinutes ?? 60) * 60_000;
    const title = input.title ?? `E2E event ${randomUUID().slice(0, 6)}`;
    const created = await ok<{ id: string; version: number }>(
      await this.request.post("/api/v1/events", {
        headers: auth,
        data: {
          title,
          description: input.description ?? "<p>An event the browser tests made.</p>",
          startsAt: new Date(startsAt).toISOString(),
          endsAt: new Date(startsAt + 3 * HOUR).toISOString(),
          timezone: "Europe/Amsterdam",
          venue: input.venue ?? { name: "Test Hall", address: "Teststraat 1, Amsterdam", lat: 52.37, lng: 4.89 },
          capacity: input.capacity ?? 100,
          price: input.price ?? 0,
          currency: "EUR",
        },
      }),
      "POST /api/v1/events",
    );
    await ok(await this.request.post(`/api/v1/events/${created.id}/publish`, { headers: auth }), "publish the event");
    return { id: created.id, title };
  }

  /**
   * A webhook endpoint of the demo host at a name that never resolves (RFC 2606 `.invalid`), with one
   * test ping sent to it: its delivery log then lists that failed delivery. The endpoint's id.
   */
  async unreachableEndpoint(hostAccessToken: string): Promise<string> {
    const auth = { Authorization: `Bearer ${hostAccessToken}` };
    const endpoint = await ok<{ id: string }>(
      await this.request.post("/api/v1/me/webhook-endpoints", {
        headers: auth,
        data: { url: `https://hooks-${randomUUID().slice(0, 8)}.gatehouse.invalid/in`, events: ["order.created"] },
      }),
      "add a webhook endpoint",
    );
    await ok(
      await this.request.post(`/api/v1/me/webhook-endpoints/${endpoint.id}/test`, { headers: auth }),
      "send a test ping",
    );
    return endpoint.id;
  }

  /** A steward device of the event, registered by its host; its `Device` token. */
  async deviceFor(eventId: string, hostAccessToken: string): Promise<string> {
    const device = await ok<{ token: string }>(
      await this.request.post(`/api/v1/events/${eventId}/devices`, {
        headers: { Authorization: `Bearer ${hostAccessToken}` },
        data: { name: "E2E gate", role: "steward" },
      }),
      "register a device",
    );
    return device.token;
  }

  /** What the gate answers for a QR token scanned by `deviceToken`. */
  async scan(deviceToken: string, token: string): Promise<{ result: string; ticket?: { id: string } }> {
    return ok(
      await this.request.post("/api/v1/scan", {
        headers: { Authorization: `Device ${deviceToken}` },
        data: { token, nonce: randomUUID() },
      }),
      "POST /api/v1/scan",
    );
  }

  /** Claims `quantity` tickets of a free event for the account (what the event page's form does). */
  async claim(accessToken: string, eventId: string, quantity = 1): Promise<void> {
    await ok(
      await this.request.post(`/api/v1/events/${eventId}/orders`, {
        headers: { Authorization: `Bearer ${accessToken}`, "Idempotency-Key": randomUUID() },
        data: { quantity },
      }),
      "claim tickets",
    );
  }

  /** The account's tickets, as the API lists them. */
  async tickets(accessToken: string): Promise<MyTicket[]> {
    const { items } = await ok<{ items: MyTicket[] }>(
      await this.request.get("/api/v1/me/tickets", { headers: { Authorization: `Bearer ${accessToken}` } }),
      "GET /api/v1/me/tickets",
    );
    return items;
  }
}
