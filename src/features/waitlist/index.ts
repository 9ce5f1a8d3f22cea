/** The waitlist: what other features may use (its routes, mounted by src/app.ts). Features import each other only through this file (README, Code map). */
export { waitlistRoutes } from "./routes";
