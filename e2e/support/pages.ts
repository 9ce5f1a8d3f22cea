/**
 * The pages the accessibility check and the screenshots visit, each with who looks at it (a visitor,
 * an attendee holding a ticket, the event's host) and the heading that says it rendered. `makeWorld`
 * makes what they need (the `world` fixture, once per Playwright worker): a published free event of
 * the demo host and an attendee with a ticket for it, through the API.
 */
import type { APIRequestContext, Page } from "@playwright/test";
import { type Account, DEMO_HOST, Gatehouse, signInAs } from "./gatehouse";

export type Viewer = "visitor" | "attendee" | "host";

/** The widths every page is checked and photographed at: a common phone, a laptop. */
export const VIEWPORTS = [
  { label: "phone", width: 390, height: 844 },
  { label: "desktop", width: 1280, height: 800 },
] as const;

export interface World {
  event: { id: string; title: string };
  attendee: Account;
  /** A webhook endpoint of the demo host, with one failed delivery in its log. */
  endpointId: string;
}

export interface PageCase {
  /** File-name friendly: docs/screenshots/<name>-phone.png. */
  name: string;
  path: (world: World) => string;
  as: Viewer;
  /** The level-1 heading (or a part of it) the page shows once rendered. */
  heading: string | RegExp | ((world: World) => string);
  /** In the README's gallery (docs/screenshots); the rest are checked only. */
  screenshot?: boolean;
  /** A page that answers with an error status on purpose. */
  status?: number;
}

export const PAGES: PageCase[] = [
  { name: "home", path: () => "/", as: "visitor", heading: /events/i, screenshot: true },
  { name: "event", path: (w) => `/e/${w.event.id}`, as: "visitor", heading: (w) => w.event.title, screenshot: true },
  { name: "login", path: () => "/login", as: "visitor", heading: "Sign in", screenshot: true },
  { name: "register", path: () => "/register", as: "visitor", heading: "Create your account" },
  { name: "forgot-password", path: () => "/forgot-password", as: "visitor", heading: "Forgot your password?" },
  {
    name: "reset-password",
    path: () => "/reset-password?token=x",
    as: "visitor",
    heading: "This link is invalid or has expired",
    status: 400,
  },
  { name: "verify-email", path: () => "/verify-email?token=x", as: "visitor", heading: "Confirm your email address" },
  { name: "tickets", path: () => "/me/tickets", as: "attendee", heading: "My tickets", screenshot: true },
  { name: "feed", path: () => "/feed", as: "attendee", heading: "Your feed" },
  { name: "host", path: () => "/host", as: "host", heading: /./, screenshot: true },
  {
    name: "host-event",
    path: (w) => `/host/events/${w.event.id}`,
    as: "host",
    heading: (w) => w.event.title,
    screenshot: true,
  },
  { name: "host-new-event", path: () => "/host/new-event", as: "host", heading: /event/i },
  { name: "host-integrations", path: () => "/host/integrations", as: "host", heading: "Integrations" },
  {
    name: "host-deliveries",
    path: (w) => `/host/integrations/endpoints/${w.endpointId}`,
    as: "host",
    heading: "Webhook deliveries",
  },
  { name: "scan", path: () => "/scan", as: "visitor", heading: /Pair this device|Scanner/, screenshot: true },
  { name: "not-found", path: () => "/no-such-page", as: "visitor", heading: "Page not found", status: 404 },
];

export function headingOf(page: PageCase, world: World): string | RegExp {
  return typeof page.heading === "function" ? page.heading(world) : page.heading;
}

/** The world of one Playwright worker: made through the API, shared by its tests (read-only). */
export async function makeWorld(request: APIRequestContext, baseURL: string, title: string): Promise<World> {
  const gatehouse = new Gatehouse(request, baseURL);
  // A week out at 19:30 in Amsterdam (18:30 UTC in winter, near enough in summer): a normal upcoming
  // event, not one whose doors are open.
  const day = new Date(Date.now() + 7 * 24 * 3600 * 1000);
  const startsAt = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), 18, 30);
  const event = await gatehouse.publishedEvent({
    title,
    startsAt,
    venue: { name: "Pllek", address: "T. van Doesburgweg 7, Amsterdam", lat: 52.3995, lng: 4.8929 },
    capacity: 250,
    description:
      "<p>An evening of live music by the canal. Doors open at seven; bring a friend, the first drink is on us.</p>",
  });
  const attendee = await gatehouse.verifiedAccount("wallet", "Sam Rivera");
  const { accessToken } = await gatehouse.login(attendee.email, attendee.password);
  await gatehouse.claim(accessToken, event.id);
  const endpointId = await gatehouse.unreachableEndpoint((await gatehouse.hostTokens()).accessToken);
  return { event, attendee, endpointId };
}

/** Signs the page's context in as whoever looks at the page (visitors stay signed out). */
export async function viewAs(page: Page, viewer: Viewer, world: World, baseURL: string): Promise<void> {
  if (viewer === "visitor") return;
  await signInAs(page, baseURL, viewer === "host" ? DEMO_HOST : world.attendee);
}
