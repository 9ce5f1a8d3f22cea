/**
 * /docs: a browsable page over /openapi.json. The page loads Swagger UI's assets from jsDelivr, so
 * it carries its own CSP allowing exactly that origin (the API CSP forbids everything).
 */
import { swaggerUI } from "@hono/swagger-ui";
import { Hono } from "hono";
import type { AppEnv } from "../../context";

export const DOCS_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; connect-src 'self'; frame-ancestors 'none'";

export const docsRoutes = new Hono<AppEnv>().get(
  "/docs",
  async (c, next) => {
    await next();
    c.res.headers.set("Content-Security-Policy", DOCS_CSP);
  },
  swaggerUI({ url: "/openapi.json", title: "Gatehouse API" }),
);
