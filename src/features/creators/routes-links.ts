/**
 * HTTP for a creator's links (the contract's "Creators" section): list, create (Idempotency-Key
 * honoured), edit, delete and reorder. Rules live in links.ts; this file is routes and OpenAPI only.
 * Every write spends one unit of `links-write` (30 a minute per user).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { LINK_STATES } from "../../db/schema-creators";
import { requireAuth } from "../../http/auth";
import { idempotency } from "../../http/idempotency";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { MAX_URL_LENGTH } from "../../lib/safe-url";
import { createLink, deleteLink, listLinks, reorderLinks, updateLink } from "./links";

const tags = ["Creators"];
const security = [{ bearer: [] }];

function userId(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
}

const writeLimit = rateLimit({ policy: "links-write", key: (c) => `user:${c.get("principal")?.id}` });

const Title = z.string().trim().min(1).max(100);
// The raw URL may be long; links.ts refuses more than 2,048 characters with invalid-url and its reason.
const Url = z
  .string()
  .max(MAX_URL_LENGTH * 4)
  .openapi({ description: "http(s), at most 2,048 characters" });
const State = z.enum(LINK_STATES);
const Version = z.number().int().min(0).openapi({ description: "The link list's version you last read" });

export const LinkSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    url: z.string(),
    kind: z.string(),
    state: State,
    position: z.number().int(),
    version: z.number().int().openapi({ description: "This link's own edit count" }),
  })
  .openapi("Link");

const WrittenLinkSchema = LinkSchema.extend({
  listVersion: z.number().int().openapi({ description: "The list's version after this write: send it next" }),
}).openapi("WrittenLink");

const LinkListSchema = z.object({ items: z.array(LinkSchema), version: z.number().int() }).openapi("LinkList");

const CreateLinkBody = z
  .object({
    title: Title,
    url: Url,
    kind: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/)
      .optional()
      .openapi({ description: "What the link is (`link` by default): a short lowercase word" }),
  })
  // No state: a creator's own link starts active (suggested links come from the platform only).
  .strict()
  .openapi("CreateLink");

const EditLinkBody = z
  .object({ version: Version, title: Title.optional(), url: Url.optional(), state: State.optional() })
  .strict()
  .openapi("EditLink");

const OrderBody = z
  .object({ ids: z.array(z.string().min(1).max(64)).max(LIMITS.linksMax), version: Version })
  .strict()
  .openapi("LinkOrder");

const OrderSchema = z.object({ ids: z.array(z.string()), version: z.number().int() }).openapi("LinkOrderResult");

const IdParam = z.object({ id: z.string().min(1).max(64) });

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/me/links",
  tags,
  summary: "Your links in every state, by position, with the list's version",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: { 200: json(LinkListSchema, "The list"), ...problems("unauthorized") },
});

const createLinkRoute = createRoute({
  method: "post",
  path: "/api/v1/me/links",
  tags,
  summary: "Add a link at the end of your list, active (Idempotency-Key honoured)",
  security,
  middleware: [requireAuth({ kind: "user" }), writeLimit, idempotency()] as const,
  request: body(CreateLinkBody),
  responses: {
    201: json(WrittenLinkSchema, "The stored link"),
    ...problems(
      "validation-failed",
      "unauthorized",
      ["invalid-url", "not http(s), too long, credentials, or an internal host (the reason member says which)"],
      ["too-many-links", "the list already holds 100"],
      "rate-limited",
    ),
  },
});

const editRoute = createRoute({
  method: "patch",
  path: "/api/v1/me/links/{id}",
  tags,
  summary: "Edit a link's title, URL or state (suggested → active | hidden, active ↔ hidden)",
  security,
  middleware: [requireAuth({ kind: "user" }), writeLimit] as const,
  request: { params: IdParam, ...body(EditLinkBody) },
  responses: {
    200: json(WrittenLinkSchema, "The stored link"),
    ...problems(
      "validation-failed",
      "unauthorized",
      "not-found",
      ["version-conflict", "the list changed since the version sent; the problem carries the current version"],
      "invalid-url",
      ["invalid-link-transition", "e.g. back to suggested"],
      "rate-limited",
    ),
  },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/api/v1/me/links/{id}",
  tags,
  summary: "Delete a link (send the list's version as `?version=`)",
  security,
  middleware: [requireAuth({ kind: "user" }), writeLimit] as const,
  request: { params: IdParam, query: z.object({ version: z.coerce.number().int().min(0) }) },
  responses: {
    204: { description: "Deleted" },
    ...problems("validation-failed", "unauthorized", "not-found", "version-conflict", "rate-limited"),
  },
});

const orderRoute = createRoute({
  method: "put",
  path: "/api/v1/me/links/order",
  tags,
  summary: "Put your links in this order (all of them, each once)",
  security,
  middleware: [requireAuth({ kind: "user" }), writeLimit] as const,
  request: body(OrderBody),
  responses: {
    200: json(OrderSchema, "The order and the list's new version"),
    ...problems(
      "validation-failed",
      "unauthorized",
      "version-conflict",
      ["invalid-link-order", "an id missing, repeated or not yours"],
      "rate-limited",
    ),
  },
});

export const linkRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listRoute, async (c) => {
    c.header("Cache-Control", "private, no-store");
    return c.json(await listLinks(c.env.DB, userId(c)), 200);
  })
  .openapi(createLinkRoute, async (c) => c.json(await createLink(c.env.DB, userId(c), c.req.valid("json")), 201))
  // Before /{id}: "order" is not a link id.
  .openapi(orderRoute, async (c) => {
    const { ids, version } = c.req.valid("json");
    return c.json(await reorderLinks(c.env.DB, userId(c), ids, version), 200);
  })
  .openapi(editRoute, async (c) =>
    c.json(await updateLink(c.env.DB, userId(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(deleteRoute, async (c) => {
    await deleteLink(c.env.DB, userId(c), c.req.valid("param").id, c.req.valid("query").version);
    return c.body(null, 204);
  });
