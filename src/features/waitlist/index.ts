/** The waitlist: what other features and the pages may use (its routes, mounted by src/app.ts, and the actions the event page offers). Features import each other only through this file (README, Code map). */
export { waitlistRoutes } from "./routes";
export { acceptOffer, declineOffer, joinWaitlist, leaveWaitlist } from "./service";
