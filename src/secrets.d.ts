/**
 * What the config module (src/config) reads beyond wrangler.toml, which `wrangler types` cannot see:
 * the secrets, and the optional vars wrangler.toml does not declare. Each is optional here because
 * src/config decides: a secret is required in production and generated (or left off) in development;
 * a var has its default there.
 */
interface GatehouseSecrets {
  HASH_PEPPER?: string;
  /** JSON: [{ "kid": "2026-11", "secret": "…" }, …]; the first signs, all verify. */
  JWT_KEYS?: string;
  COOKIE_SECRET?: string;
  /** JSON: [{ "kid": "2026-11", "secret": "…" }, …]; the first signs media URLs, all verify. */
  MEDIA_SIGNING_KEYS?: string;
  MEDIA_MAX_UPLOAD_BYTES?: string;
  TURNSTILE_SECRET?: string;
  PASSWORD_SCRYPT?: string;
  SESSION_IDLE_SECONDS?: string;
  SESSION_MAX_SECONDS?: string;
  PUBLIC_URL?: string;
  /** "log" | "resend"; default: resend in production, log elsewhere. */
  EMAIL_TRANSPORT?: string;
  /** Resend API key (secret); required when EMAIL_TRANSPORT is resend. */
  RESEND_API_KEY?: string;
  /** JSON: [{ "kid": "2026-11", "kty": "OKP", "crv": "Ed25519", "x": "…", "d": "…" }, …]; the first signs. */
  TICKET_SIGNING_KEYS?: string;
  /** Ticket QR token lifetime in seconds (default 300). */
  TICKET_TOKEN_TTL_SECONDS?: string;
  /** JSON: [{ "kid": "2026-12", "key": "<32 bytes base64url>" }, …]; the first seals personal fields, all open. */
  PII_KEYS?: string;
  /** ≥ 32 bytes base64url: the blind-index HMAC key (email lookups); never rotated with PII_KEYS. */
  PII_INDEX_KEY?: string;
  /** Stripe secret API key (sk_… / rk_…); required in production, unset in development = paid checkout off. */
  STRIPE_SECRET_KEY?: string;
  /** Stripe webhook signing secret(s), whsec_…, comma-separated while rotating; required with the key. */
  STRIPE_WEBHOOK_SECRET?: string;
  /** Checkout Session and paid hold lifetime in seconds (1800–86400, default 1800). */
  CHECKOUT_TTL_SECONDS?: string;
  /** Default attendee refund cut-off before the event starts, in hours (default 48). */
  REFUND_CUTOFF_HOURS?: string;
  /**
   * "1" serves the /dev routes to loopback hosts outside production (.dev.vars, vitest.config.ts).
   * Kept out of wrangler.toml on purpose: a deployed Worker never declares it.
   */
  DEV_ROUTES?: string;
  /**
   * "1" lets webhook endpoints on 127.0.0.1, [::1] and localhost receive deliveries, outside production
   * only (a local receiver during development); production ignores it.
   */
  OUTGOING_ALLOW_LOOPBACK?: string;
  /** JSON: retention periods in days per kind, e.g. {"audit-log": 730} (src/config/retention.ts). */
  RETENTION_DAYS?: string;
}
interface Env extends GatehouseSecrets {}
declare namespace Cloudflare {
  interface Env extends GatehouseSecrets {}
}
