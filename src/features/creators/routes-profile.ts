/**
 * HTTP for the public profile: `GET /api/v1/profiles/:handle` (JSON; profile-page.ts builds it, edge
 * cached). The page `/@:handle` (src/web/pages/creators/profile.tsx) shows the same data and shares the
 * same per-address budget, `profile-view` (100 a minute).
 *
 * A handle its owner changed answers 301 with `Location` naming the new handle's profile for the grace
 * period (LIMITS.handleGraceSeconds), so a client following redirects keeps working; after it, and for
 * any handle nobody holds, 404.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { json, problems } from "../../http/openapi";
import { byIp, rateLimit } from "../../http/rate-limit";
import { CACHE_HEADER } from "../../lib/edge-cache";
import { DomainError } from "../../lib/errors";
import { lookupProfile, type ProfileLookup, type ProfilePageDeps } from "./profile-page";

const tags = ["Creators"];

/** The page and the API spend one budget: 100 profile views a minute per address. */
export const profileViewLimit = rateLimit({ policy: "profile-view", key: byIp });

export function profileDeps(c: AppContext): ProfilePageDeps {
  const config = c.get("config");
  return {
    db: c.env.DB,
    pii: config.pii,
    mediaSigningKeys: config.mediaSigningKeys,
    trackingSecret: config.hashPepper,
    origin: config.publicUrl ?? new URL(c.req.url).origin,
    defer: c.get("defer"),
    onCache: (hit) => c.header(CACHE_HEADER, hit ? "HIT" : "MISS"),
  };
}

/** The profile for a route, following the lookup's outcome: the profile, or a thrown 404. */
export async function lookupFor(c: AppContext, handle: string): Promise<Exclude<ProfileLookup, { kind: "missing" }>> {
  const found = await lookupProfile(profileDeps(c), handle);
  if (found.kind === "missing") throw new DomainError("not-found", "No creator has this handle.");
  return found;
}

const LinkSchema = z.object({ id: z.string(), title: z.string(), url: z.string(), kind: z.string() });

export const PublicProfileSchema = z
  .object({
    handle: z.string(),
    name: z.string(),
    bio: z.string(),
    avatarUrl: z.string().nullable().openapi({ description: "Signed image URL, valid for at least a day" }),
    links: z.array(LinkSchema).openapi({ description: "Active links in their order, at most 100" }),
    tipping: z
      .boolean()
      .openapi({ description: "Whether the creator takes tips: their payout account can take charges" }),
    pro: z.boolean().openapi({ description: "Whether the creator has Pro now (no Gatehouse branding on their pages)" }),
    trackingToken: z.string().openapi({
      description: "Short-lived signed token for POST /api/v1/track/visit and link clicks (/l/:linkId?t=…)",
    }),
    upcomingEvents: z
      .array(
        z.object({
          id: z.string(),
          title: z.string(),
          startsAt: z.string().openapi({ format: "date-time" }),
          endsAt: z.string().openapi({ format: "date-time" }),
          venue: z.object({ name: z.string() }),
        }),
      )
      .openapi({ description: "The creator's published events that have not ended, soonest first, at most 20" }),
  })
  .openapi("PublicProfile");

const profileRoute = createRoute({
  method: "get",
  path: "/api/v1/profiles/{handle}",
  tags,
  summary: "A creator's public profile: links, upcoming events and a tracking token",
  middleware: [profileViewLimit] as const,
  request: { params: z.object({ handle: z.string().max(200) }) },
  responses: {
    200: json(PublicProfileSchema, "The profile (X-Cache says whether it came from the edge cache)"),
    301: {
      description: "The handle was changed recently: `Location` names the profile under its new handle",
      headers: { Location: { schema: { type: "string" } } },
    },
    ...problems("not-found", ["rate-limited", "policy profile-view, 100 a minute per address"]),
  },
});

export const profileRoutes = new OpenAPIHono<AppEnv>().openapi(profileRoute, async (c) => {
  const found = await lookupFor(c, c.req.valid("param").handle);
  if (found.kind === "moved") {
    c.header("Cache-Control", "no-store");
    return c.redirect(`/api/v1/profiles/${encodeURIComponent(found.handle)}`, 301);
  }
  // Each answer carries its own tracking token: never stored by a shared cache.
  c.header("Cache-Control", "private, no-store");
  return c.json(found.profile, 200);
});
