/** Accounts and sessions: what other features may use. Features import each other only through this file (README, Code map). */

export { registerSessions, updateAccountInBook } from "./session-keeper";
export * from "./tokens";
