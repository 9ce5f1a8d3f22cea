/** Creator profiles: what other features may use. Features import each other only through this file (README, Code map). */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { analyticsRoutes } from "./routes-analytics";
import { linkRoutes } from "./routes-links";
import { trackingRoutes } from "./routes-tracking";

export { type CreatorAnalytics, creatorAnalytics } from "./analytics";
export { creatorCacheScope } from "./handles";
export { type PublicLink, publicLinks, suggestLink } from "./links";
export { trackRollupCron } from "./rollups";
export { analyticsRange } from "./routes-analytics";
export { handleRoutes } from "./routes-handles";
export { profileRoutes } from "./routes-profile";
export { mintTrackingToken, replayTrackEventStatements } from "./tracking";

/** The links, tracking and analytics routes, mounted together by src/app.ts. */
export const creatorLinkRoutes = new OpenAPIHono<AppEnv>()
  .route("/", linkRoutes)
  .route("/", trackingRoutes)
  .route("/", analyticsRoutes);
