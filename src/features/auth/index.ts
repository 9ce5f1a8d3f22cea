/** Accounts and sessions: what other features may use. Features import each other only through this file (README, Code map). */

export { clearSessionCookies } from "./cookies";
export { type AuthDeps, authDeps, sessionStores } from "./deps";
export { type ReauthProof, reauthenticate } from "./reauth";
export {
  advanceEpochInBook,
  orderNotesInBook,
  registerSessions,
  unnoteOrderingInBook,
  updateAccountInBook,
} from "./session-keeper";
export { withEpochBump } from "./sessions";
export * from "./tokens";
export {
  emailIndex,
  findUserById,
  openEmail,
  openName,
  openNameOptional,
  sealedEmail,
  sealName,
  USER_EMAIL_CONTEXT,
  USER_NAME_CONTEXT,
} from "./users";
