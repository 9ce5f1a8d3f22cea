/** Accounts and sessions: what other features may use. Features import each other only through this file (README, Code map). */
export * from "./tokens";
