/** A host's own lists (their events, an event's orders, attendees, check-ins): what app.ts mounts. Features import each other only through this file (README, Code map). */
export { hostDataRoutes } from "./routes";
