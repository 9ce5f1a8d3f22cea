/**
 * API key schemas (zod + OpenAPI). Create takes only `name` and `scopes`: the id, key, prefix and host
 * come from the server and the session (mass-assignment defence).
 */
import { z } from "@hono/zod-openapi";
import { API_KEY_SCOPES } from "../../db/schema-integrations";

export const API_KEY_NAME_MAX = 100;

export const CreateApiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(API_KEY_NAME_MAX).openapi({ example: "CRM sync" }),
    scopes: z
      .array(z.enum(API_KEY_SCOPES))
      .min(1)
      .max(API_KEY_SCOPES.length)
      .refine((scopes) => new Set(scopes).size === scopes.length, { message: "each scope at most once" })
      .openapi({ description: `A non-empty subset of ${API_KEY_SCOPES.join(", ")}` }),
  })
  .strict()
  .openapi("CreateApiKey");

export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(API_KEY_SCOPES)),
    prefix: z.string().openapi({ description: "The key's first characters, to recognise it", example: "gh_live_Ab3x" }),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable().openapi({ description: "Coarse: updated at most once an hour" }),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

export const CreatedApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(API_KEY_SCOPES)),
    prefix: z.string(),
    key: z.string().openapi({ description: "Shown once. Send as `Authorization: Bearer <key>`." }),
    createdAt: z.string(),
  })
  .openapi("CreatedApiKey");

export const ApiKeyListSchema = z
  .object({ items: z.array(ApiKeySchema), nextCursor: z.string().nullable() })
  .openapi("ApiKeyList");

export const ApiKeyListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const ApiKeyIdParam = z.object({ id: z.string().min(1).max(64) });
