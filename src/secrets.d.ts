/**
 * Secrets are not in wrangler.toml, so `wrangler types` cannot see them. Each is optional here
 * because the config module (src/config) decides: required in production, generated in development.
 */
interface GatehouseSecrets {
  HASH_PEPPER?: string;
  /** JSON: [{ "kid": "2026-11", "secret": "…" }, …]; the first signs, all verify. */
  JWT_KEYS?: string;
  COOKIE_SECRET?: string;
  TURNSTILE_SECRET?: string;
  PASSWORD_SCRYPT?: string;
  SESSION_IDLE_SECONDS?: string;
  SESSION_MAX_SECONDS?: string;
  PUBLIC_URL?: string;
}
interface Env extends GatehouseSecrets {}
declare namespace Cloudflare {
  interface Env extends GatehouseSecrets {}
}
