/** GET /api/v1: where the API documents itself. The cheapest route behind the `api` rate policy. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";

const ApiIndexSchema = z
  .object({ name: z.string(), version: z.string(), openapi: z.string(), docs: z.string() })
  .openapi("ApiIndex");

const route = createRoute({
  method: "get",
  path: "/api/v1",
  tags: ["Operations"],
  summary: "API index",
  responses: { 200: { description: "API metadata", content: { "application/json": { schema: ApiIndexSchema } } } },
});

export function metaRoutes(version: string) {
  return new OpenAPIHono<AppEnv>().openapi(route, (c) =>
    c.json({ name: "Gatehouse API", version, openapi: "/openapi.json", docs: "/docs" }, 200),
  );
}
