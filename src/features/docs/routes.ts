/**
 * GET /docs: a browsable page over /openapi.json (Swagger UI). Its CSP is its own (./page.ts), with a
 * nonce minted for each response, which is why the page is never cached.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { randomToken } from "../../lib/crypto";
import { docsCsp, docsPage } from "./page";

export const docsRoutes = new Hono<AppEnv>().get("/docs", (c) => {
  // 128 random bits (CSP Level 3 asks for at least that); a cached page would replay its nonce.
  const nonce = randomToken(16);
  c.header("Content-Security-Policy", docsCsp(nonce));
  c.header("Cache-Control", "no-store");
  return c.html(docsPage(nonce));
});
