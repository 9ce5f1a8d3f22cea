/**
 * HTTP for a person's data rights: `GET /api/v1/me/export` (a copy of everything we hold, emailed as
 * a signed link), `GET /exports/{id}` (the archive behind that link), `DELETE /api/v1/me` (erasure
 * after re-authentication). The two /me routes are the person's own, by session only: they name no
 * API-key scope, so a key is refused (403 insufficient-scope), and a principal that did not arrive
 * by a session (bearer or cookie) is refused as well. Rules live in export.ts and erasure.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { authDeps, clearSessionCookies } from "../auth";
import type { EmailQueue } from "../email";
import { eraseAccount } from "./erasure";
import { buildExport, type PrivacyDeps, requestExport, signedExport } from "./export";

const tags = ["Privacy"];
const security = [{ bearer: [] }];
const keyRefusal = ["insufficient-scope", "called with an API key"] as const;

/** The signed-in person, by session: never a device, never an API key. */
function personOf(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user" || (principal.via !== "bearer" && principal.via !== "cookie")) {
    throw new DomainError("unauthorized", "Sign in to continue.");
  }
  return principal.id;
}

function deps(c: AppContext): PrivacyDeps {
  const auth = authDeps(c);
  return {
    db: c.env.DB,
    bucket: c.env.MEDIA,
    config: auth.config,
    meta: auth.meta,
    origin: auth.origin,
    emailQueue: c.env.EMAIL_QUEUE as EmailQueue,
  };
}

const ExportAccepted = z
  .object({
    id: z.string().openapi({ example: "c1n5Dq0tM0e1b7vYy2Gf6w" }),
    status: z.literal("pending"),
  })
  .openapi("DataExportAccepted");

const exportRoute = createRoute({
  method: "get",
  path: "/api/v1/me/export",
  tags,
  summary: "Ask for a copy of everything we hold about you",
  description:
    "Answers at once; the archive (JSON) is built next and a link to it, valid 7 days, is emailed to you. One export a day.",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: {
    202: json(ExportAccepted, "The export is being built; the link follows by email"),
    ...problems("unauthorized", keyRefusal, ["rate-limited", "an export in the last 24 hours (Retry-After says when)"]),
  },
});

const ExportIdParam = z.object({ id: z.string().min(1).max(64) });
const SignedQuery = z.object({
  exp: z.string().optional(),
  kid: z.string().optional(),
  sig: z.string().optional(),
});

const downloadRoute = createRoute({
  method: "get",
  path: "/exports/{id}",
  tags,
  summary: "The data export behind an emailed signed link",
  request: { params: ExportIdParam, query: SignedQuery },
  responses: {
    // No content schema: a file to save (application/json, Content-Disposition: attachment), not an API body.
    200: { description: "The archive: a JSON file, as an attachment" },
    ...problems(["forbidden", "bad or expired signature"], ["not-found", "expired or never ready"]),
  },
});

const EraseBody = z
  .object({
    password: z.string().min(1).max(1024).optional().openapi({ description: "For an account with a password" }),
    code: z
      .string()
      .regex(/^\d{6}$/)
      .optional()
      .openapi({ description: "For an account without a password: a code from POST /api/v1/auth/otp/request" }),
  })
  .openapi("EraseAccount");

const eraseRoute = createRoute({
  method: "delete",
  path: "/api/v1/me",
  tags,
  summary: "Erase your account",
  description:
    "Re-authenticate with your password (or, without one, an emailed sign-in code). Your posts, comments, likes, follows, links, media and keys are deleted; orders, tickets, payments and tips stay for the hosts and for accounting, under a pseudonym with no name or address. Every session ends at once.",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { body: { required: true, content: { "application/json": { schema: EraseBody } } } },
  responses: {
    204: { description: "Erased; the session cookies are cleared" },
    ...problems(
      ["validation-failed", "the password (or code) the account needs is missing"],
      "unauthorized",
      ["invalid-credentials", "wrong password or code"],
      keyRefusal,
      ["hosts-future-events", "events you host that have not ended are listed in `events`; cancel them first"],
      ["subscription-active", "a Pro subscription would renew: cancel it first (it may run to its period's end)"],
      ["locked", "too many wrong codes"],
      ["rate-limited", "too many wrong passwords (as at sign-in)"],
      ["unavailable", "an event's inventory could not forget your contact just now: nothing changed, try again"],
    ),
  },
});

export const privacyRoutes = new OpenAPIHono<AppEnv>()
  .openapi(exportRoute, async (c) => {
    const userId = personOf(c);
    const d = deps(c);
    const accepted = await requestExport(d, userId);
    c.get("defer")(() => buildExport(d, userId, accepted.id));
    c.header("Cache-Control", "no-store");
    return c.json(accepted, 202);
  })
  .openapi(downloadRoute, async (c) => {
    const d = deps(c);
    const { id } = c.req.valid("param");
    const file = await signedExport(d, id, c.req.valid("query"), c.get("requestId"));
    const day = new Date(file.createdAt).toISOString().slice(0, 10);
    return new Response(file.body, {
      status: 200,
      headers: {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": String(file.bytes),
        "Content-Disposition": `attachment; filename="gatehouse-data-${day}.json"`,
        // Personal data: no shared cache may keep it, nor the browser's beyond this download.
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Referrer-Policy": "no-referrer",
      },
    });
  })
  .openapi(eraseRoute, async (c) => {
    const userId = personOf(c);
    await eraseAccount(
      {
        ...authDeps(c),
        bucket: c.env.MEDIA,
        inventory: c.env.EVENT_INVENTORY,
        recentEvents: c.get("settleEvents") ?? [],
      },
      userId,
      c.req.valid("json"),
    );
    clearSessionCookies(c);
    return c.body(null, 204);
  });
