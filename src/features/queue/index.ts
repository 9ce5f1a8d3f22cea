/** The waiting room: what other features may use (passes, the 428). Features import each other only through this file (README, Code map). */
export { verifyQueuePass } from "./pass";
export { queueRoutes } from "./routes";
export { queuePassRequired } from "./service";
