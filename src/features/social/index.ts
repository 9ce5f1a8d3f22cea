/** The social layer: what other features may use. Features import each other only through this file (README, Code map). */
export * from "./notifications";
export { notificationRoutes } from "./routes-notifications";
export { userRoutes } from "./routes-users";
