/** Money for hosts and creators: what other features may use. Features import each other only through this file. */
export * from "./entitlements";
export * from "./routes-subscription";
export * from "./subscription";
