/**
 * HTTP for hosts' API keys (the contract's "Integrations"): create (the key shown once), list (never
 * the key), revoke (refused from the next request on). Signed-in hosts only, by session: these routes
 * name no scope, so an API key is refused here (403 insufficient-scope) and can never mint or revoke
 * keys. Rules live in service.ts.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import type { EmailQueue } from "../email";
import { ApiKeyIdParam, ApiKeyListQuery, ApiKeyListSchema, CreateApiKeyBody, CreatedApiKeySchema } from "./schema";
import { type ApiKeysDeps, createApiKey, listApiKeys, revokeApiKey } from "./service";

const tags = ["Integrations"];
const security = [{ bearer: [] }];
const hostOnly = () => requireAuth({ kind: "user", roles: ["host"] });
const hostWrite = () => [
  hostOnly(),
  rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` }),
];
const refusals = [
  ["forbidden", "not a host"],
  ["insufficient-scope", "called with an API key"],
] as const;

export function apiKeysDeps(c: AppContext): ApiKeysDeps {
  return {
    db: c.env.DB,
    config: c.get("config"),
    meta: {
      requestId: c.get("requestId"),
      ip: clientIp(c.req.raw.headers),
      userAgent: c.req.header("User-Agent") ?? null,
    },
    emailQueue: c.env.EMAIL_QUEUE as EmailQueue,
  };
}

function hostId(c: AppContext): string {
  const principal = c.get("principal");
  if (!principal) throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
}

const createKeyRoute = createRoute({
  method: "post",
  path: "/api/v1/me/api-keys",
  tags,
  summary: "Create an API key (the key is shown once)",
  description: "Send the key as `Authorization: Bearer gh_live_…`. It acts only on your own events, within its scopes.",
  security,
  middleware: hostWrite(),
  request: body(CreateApiKeyBody),
  responses: {
    201: json(CreatedApiKeySchema, "The key, shown this once"),
    ...problems(
      ["validation-failed", "name of 1 to 100 characters; scopes a non-empty subset, each once"],
      "unauthorized",
      ...refusals,
      ["limit-exceeded", "too many live keys"],
      "rate-limited",
    ),
  },
});

const listKeysRoute = createRoute({
  method: "get",
  path: "/api/v1/me/api-keys",
  tags,
  summary: "Your API keys, newest first (never the keys themselves)",
  security,
  middleware: [hostOnly()] as const,
  request: { query: ApiKeyListQuery },
  responses: {
    200: json(ApiKeyListSchema, "A page of keys"),
    ...problems("validation-failed", "unauthorized", ...refusals),
  },
});

const revokeKeyRoute = createRoute({
  method: "delete",
  path: "/api/v1/me/api-keys/{id}",
  tags,
  summary: "Revoke an API key: refused from its next request on",
  security,
  middleware: hostWrite(),
  request: { params: ApiKeyIdParam },
  responses: {
    204: { description: "Revoked" },
    ...problems("unauthorized", ...refusals, ["not-found", "also another host's key"], "rate-limited"),
  },
});

export const apiKeyRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createKeyRoute, async (c) => {
    const created = await createApiKey(apiKeysDeps(c), hostId(c), c.req.valid("json"));
    c.header("Cache-Control", "no-store");
    return c.json(created, 201);
  })
  .openapi(listKeysRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await listApiKeys(c.env.DB, hostId(c), c.req.valid("query")), 200);
  })
  .openapi(revokeKeyRoute, async (c) => {
    await revokeApiKey(apiKeysDeps(c), hostId(c), c.req.valid("param").id);
    return c.body(null, 204);
  });
