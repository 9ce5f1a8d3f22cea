/** Events: what other features may use (the event rows and rules, its inventory object, the HTTP helpers its routes share). Features import each other only through this file (README, Code map). */
export * from "./http";
export * from "./inventory";
export * from "./orderable";
export * from "./refund-window";
export { EventSchema } from "./schema";
export * from "./service";
