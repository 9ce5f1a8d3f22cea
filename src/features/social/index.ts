/** The social layer: what other features may use. Features import each other only through this file (README, Code map). */

export { postChanged } from "./live";
export * from "./notifications";
export * from "./present";
export { feedRoutes } from "./routes-feed";
export { postLiveRoutes } from "./routes-live";
export { notificationRoutes } from "./routes-notifications";
export { postRoutes } from "./routes-posts";
export { reportRoutes } from "./routes-reports";
export { userRoutes } from "./routes-users";
export { normalizeText, textLength } from "./text";
