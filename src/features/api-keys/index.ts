/** Hosts' API keys: what app.ts mounts (routes, the authenticator, the per-key rate key, the write audit). Features import each other only through this file (README, Code map). */
export { auditApiKeyWrites } from "./audit";
export { apiKeyAuthenticator, apiKeyRateKey, isApiKeyRequest } from "./authenticator";
export { apiKeyRoutes } from "./routes";
