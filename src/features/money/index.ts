/** Money for hosts and creators: what other features may use. Features import each other only through this file. */
export * from "./connect";
export * from "./entitlements";
export * from "./fees";
export * from "./routes-payouts";
export * from "./routes-subscription";
export * from "./routes-tips";
export * from "./subscription";
export * from "./tips";
