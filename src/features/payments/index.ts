/** Payments: what other features may use (checkout, refunds, policies, the work queue and its dependencies). Features import each other only through this file (README, Code map). */
export * from "./checkout";
export * from "./deps";
export * from "./inbox";
export * from "./policy";
export * from "./queue";
export * from "./refunds";
export * from "./schema";
export { classifyStripeError, idOf, isLiveKey, type Stripe } from "./stripe";
