/**
 * Secrets are not in wrangler.toml, so `wrangler types` cannot see them. Each is optional here
 * because the config module (src/config) decides: required in production, generated in development.
 */
interface GatehouseSecrets {
  HASH_PEPPER?: string;
}
interface Env extends GatehouseSecrets {}
declare namespace Cloudflare {
  interface Env extends GatehouseSecrets {}
}
