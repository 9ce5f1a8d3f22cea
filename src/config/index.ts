/**
 * Typed configuration: bindings, vars and secrets parsed with zod once per isolate (cached per env
 * object). Production fails closed on a missing or malformed secret; development and test get safe
 * generated defaults so `npm run dev` just works.
 */
import { z } from "zod";
import { randomToken } from "../lib/crypto";
import type { ScryptParams } from "../lib/password";
import { type PiiCipher, piiCipher, piiKeysProblem } from "../lib/pii";
import { type EmailConfig, readEmailConfig } from "./email";
import { LIMITS, type RatePolicies, resolveRatePolicies } from "./limits";
import { type PaymentsConfig, readPaymentsConfig } from "./payments";
import { type RetentionDays, resolveRetentionDays } from "./retention";

export type Environment = "development" | "test" | "production";

export interface SigningKey {
  kid: string;
  secret: string;
}

/** An Ed25519 private key as a JWK (RFC 8037), named by its `kid`. */
export interface TicketSigningJwk {
  kid: string;
  kty: "OKP";
  crv: "Ed25519";
  /** Public key, base64url. */
  x: string;
  /** Private key, base64url. */
  d: string;
}

export interface Config {
  environment: Environment;
  isProduction: boolean;
  /**
   * The /dev routes (mailbox, seed, fixtures) are served: DEV_ROUTES=1 outside production only. An
   * environment name alone never opens them, so a staging deploy set to "development" does not
   * publish sign-in codes or the demo password (the routes also demand a loopback host).
   */
  devRoutes: boolean;
  /**
   * Webhook endpoints on 127.0.0.1, [::1] or localhost are accepted and delivered to: only with
   * OUTGOING_ALLOW_LOOPBACK=1 outside production (a local receiver); production ignores the variable.
   */
  outgoingAllowLoopback: boolean;
  /** Browser origins allowed by CORS and trusted as same-site redirect targets. */
  corsOrigins: readonly string[];
  ratePolicies: RatePolicies;
  /** How long each kind of record is kept (src/config/retention.ts; RETENTION_DAYS overrides). */
  retentionDays: RetentionDays;
  /** HMAC key for hashing identifiers that must not be stored or logged raw (user ids, IPs, emails). */
  hashPepper: string;
  /** Access-token keys: the first signs, all verify (rotation without logging anyone out). */
  jwtKeys: readonly [SigningKey, ...SigningKey[]];
  /** Signs CSRF tokens. */
  cookieSecret: string;
  /** Turnstile siteverify secret; null switches challenges off (development without a secret only). */
  turnstileSecret: string | null;
  passwordScrypt: ScryptParams;
  sessionIdleSeconds: number;
  sessionMaxSeconds: number;
  /**
   * Origin used in links inside emails. Set it in production so links never depend on the request's
   * Host; when unset, the request origin is used (local development).
   */
  publicUrl: string | null;
  /** Media URL signing keys: the first signs, all verify (rotation without breaking live URLs). */
  mediaSigningKeys: readonly [SigningKey, ...SigningKey[]];
  /** Seals and opens personal fields, and computes their blind indexes (PII_KEYS, PII_INDEX_KEY). */
  pii: PiiCipher;
  /** Largest media file accepted (MEDIA_MAX_UPLOAD_BYTES, up to LIMITS.mediaUploadCeilingBytes). */
  mediaMaxUploadBytes: number;
  /** How the email queue consumer sends (see ./email.ts). */
  email: EmailConfig;
  /**
   * Ticket QR signing keys: the first signs, all verify (rotation without invalidating codes in
   * flight). Null only outside production: a key pair is then generated per isolate on first use
   * (src/features/gate/keys.ts), because Ed25519 generation is asynchronous and config is not.
   */
  ticketSigningKeys: readonly [TicketSigningJwk, ...TicketSigningJwk[]] | null;
  /** Lifetime of a ticket QR token (TICKET_TOKEN_TTL_SECONDS). */
  ticketTokenTtlSeconds: number;
  /** Raw profile tracking events older than this many days are deleted by the cron (TRACK_RETENTION_DAYS). */
  trackRetentionDays: number;
  /** Stripe (see ./payments.ts); null outside production when unset: paid checkout is then off. */
  payments: PaymentsConfig | null;
}

const secretString = z.string().min(32, "must be at least 32 characters");
const jwtKeys = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "must be JSON" });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(z.object({ kid: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), secret: secretString }).strict())
      .min(1)
      .max(5),
  );

/**
 * TICKET_SIGNING_KEYS: JSON array of Ed25519 private JWKs, current first, then the previous one(s).
 * The kid is at most 16 characters so a ticket token stays within 200 characters (a small QR code).
 */
const base64urlKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be 32 bytes, base64url");
const ticketKeys = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "must be JSON" });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(
        z
          .object({
            kid: z.string().regex(/^[A-Za-z0-9._-]{1,16}$/),
            kty: z.literal("OKP"),
            crv: z.literal("Ed25519"),
            x: base64urlKey,
            d: base64urlKey,
            // Tolerated as exported by common tools; ignored.
            alg: z.literal("EdDSA").optional(),
            use: z.literal("sig").optional(),
          })
          .strict()
          .transform(({ kid, kty, crv, x, d }) => ({ kid, kty, crv, x, d })),
      )
      .min(1)
      .max(3)
      .refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, "kids must be unique"),
  );

/** PII_KEYS: [{ "kid": "2026-12", "key": "<32 bytes, base64url>" }, …]; the first seals, all open. */
const piiKeys = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "not JSON" });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(z.object({ kid: z.string(), key: z.string() }).strict())
      .max(8)
      .superRefine((keys, ctx) => {
        const problem = piiKeysProblem(keys);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
  );

/** PII_INDEX_KEY: at least 32 bytes, base64url; never rotated with PII_KEYS (docs/privacy.md). */
const piiIndexKey = z.string().regex(/^[A-Za-z0-9_-]{43,}={0,2}$/);

/** Each secret: its schema, and how development makes one when it is missing. */
const SECRETS = {
  HASH_PEPPER: { schema: secretString, generate: () => randomToken(32) },
  JWT_KEYS: { schema: jwtKeys, generate: () => JSON.stringify([{ kid: "dev", secret: randomToken(32) }]) },
  COOKIE_SECRET: { schema: secretString, generate: () => randomToken(32) },
  // Same shape as JWT_KEYS: [{ "kid": "…", "secret": "…" }, …]; the kid travels in the signed URL.
  MEDIA_SIGNING_KEYS: { schema: jwtKeys, generate: () => JSON.stringify([{ kid: "dev", secret: randomToken(32) }]) },
  // Cloudflare's documented test secrets are shorter than 32 characters, so only non-empty is checked.
  TURNSTILE_SECRET: { schema: z.string().min(1), generate: null },
  // Required in production; elsewhere left unset and generated per isolate by the gate (see Config).
  TICKET_SIGNING_KEYS: { schema: ticketKeys, generate: null },
  // Personal-data encryption: production fails closed without them. `npm run dev` writes stable ones
  // to .dev.vars (a per-isolate key would leave rows sealed by the last run unreadable).
  PII_KEYS: { schema: piiKeys, generate: () => JSON.stringify([{ kid: "dev", key: randomToken(32) }]) },
  PII_INDEX_KEY: { schema: piiIndexKey, generate: () => randomToken(32) },
} as const;
type SecretKey = keyof typeof SECRETS;

const originList = z
  .string()
  .default("")
  .transform((raw, ctx) => {
    const origins: string[] = [];
    for (const item of raw.split(",").map((s) => s.trim())) {
      if (item === "") continue;
      if (item === "*") {
        ctx.addIssue({ code: "custom", message: "wildcard origin is not allowed with credentials" });
        return z.NEVER;
      }
      let url: URL;
      try {
        url = new URL(item);
      } catch {
        ctx.addIssue({ code: "custom", message: `"${item}" is not an origin` });
        return z.NEVER;
      }
      if (url.origin !== item.replace(/\/$/, "") || !/^https?:$/.test(url.protocol)) {
        ctx.addIssue({ code: "custom", message: `"${item}" is not a bare http(s) origin` });
        return z.NEVER;
      }
      origins.push(url.origin);
    }
    return origins;
  });

const scryptParams = z
  .string()
  .regex(/^ln=\d{1,2},r=\d{1,2},p=\d{1,2}$/, 'must look like "ln=17,r=8,p=1"')
  .transform((raw) => {
    const [logN, r, p] = raw.split(",").map((part) => Number(part.split("=")[1]));
    return { logN: logN as number, r: r as number, p: p as number };
  })
  .refine((p) => p.logN >= 10 && p.logN <= 20 && p.r >= 1 && p.r <= 32 && p.p >= 1 && p.p <= 16, "out of range");

const seconds = (fallback: number, max: number) => z.coerce.number().int().positive().max(max).default(fallback);

/** Unset means production, everywhere (the Worker, its Durable Objects and its queue consumers). */
const environmentSchema = z.enum(["development", "test", "production"]).default("production");

const varsSchema = z.object({
  ENVIRONMENT: environmentSchema,
  // Only the exact value "1" opens the /dev routes; anything else (a typo included) leaves them shut.
  DEV_ROUTES: z.string().optional(),
  // Likewise only "1" lets webhook endpoints on loopback through, and never in production.
  OUTGOING_ALLOW_LOOPBACK: z.string().optional(),
  CORS_ORIGINS: originList,
  RATE_LIMITS: z.string().optional(),
  // OWASP Password Storage Cheat Sheet: scrypt N=2^17, r=8, p=1. Tests lower it (see vitest.config.ts).
  PASSWORD_SCRYPT: scryptParams.default({ logN: 17, r: 8, p: 1 }),
  // ASVS 7.3.1 idle timeout (30 min) and 7.3.2 absolute lifetime (30 days).
  SESSION_IDLE_SECONDS: seconds(30 * 60, 7 * 24 * 3600),
  SESSION_MAX_SECONDS: seconds(30 * 24 * 3600, 365 * 24 * 3600),
  MEDIA_MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .max(LIMITS.mediaUploadCeilingBytes)
    .default(LIMITS.mediaUploadBytes),
  TICKET_TOKEN_TTL_SECONDS: seconds(LIMITS.ticketTokenSeconds, LIMITS.ticketTokenMaxSeconds),
  TRACK_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(LIMITS.trackRetentionDays),
  PUBLIC_URL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (!raw) return null;
      try {
        const url = new URL(raw);
        if (!/^https?:$/.test(url.protocol)) throw new Error("scheme");
        return url.origin;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be an http(s) origin" });
        return z.NEVER;
      }
    }),
});

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Names of the offending keys; never their values. */
  constructor(readonly keys: string[]) {
    super(`invalid configuration: ${keys.join(", ")}`);
  }
}

/** Generated secrets live for the isolate: stable across requests, never persisted. */
const generatedSecrets = new Map<SecretKey, string>();

function readSecrets(env: Record<string, unknown>, isProduction: boolean, keys = Object.keys(SECRETS) as SecretKey[]) {
  const bad: string[] = [];
  const values: Partial<Record<SecretKey, unknown>> = {};
  for (const key of keys) {
    const spec = SECRETS[key];
    let raw = env[key];
    if ((raw === undefined || raw === "") && !isProduction) {
      if (!spec.generate) continue;
      raw = generatedSecrets.get(key) ?? spec.generate();
      generatedSecrets.set(key, raw as string);
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) values[key] = parsed.data;
    else bad.push(key);
  }
  if (bad.length > 0) throw new ConfigError(bad);
  return values as {
    HASH_PEPPER: string;
    JWT_KEYS: [SigningKey, ...SigningKey[]];
    COOKIE_SECRET: string;
    MEDIA_SIGNING_KEYS: [SigningKey, ...SigningKey[]];
    TURNSTILE_SECRET?: string;
    TICKET_SIGNING_KEYS?: [TicketSigningJwk, ...TicketSigningJwk[]];
    PII_KEYS: { kid: string; key: string }[];
    PII_INDEX_KEY: string;
  };
}

function parse(env: Record<string, unknown>): Config {
  const vars = varsSchema.safeParse(env);
  if (!vars.success) {
    throw new ConfigError([...new Set(vars.error.issues.map((i) => String(i.path[0])))]);
  }
  const environment = vars.data.ENVIRONMENT;
  const isProduction = environment === "production";

  let ratePolicies: RatePolicies;
  try {
    ratePolicies = resolveRatePolicies(vars.data.RATE_LIMITS);
  } catch {
    throw new ConfigError(["RATE_LIMITS"]);
  }
  let retentionDays: RetentionDays;
  try {
    retentionDays = resolveRetentionDays(typeof env.RETENTION_DAYS === "string" ? env.RETENTION_DAYS : undefined);
  } catch {
    throw new ConfigError(["RETENTION_DAYS"]);
  }
  const email = readEmailConfig(env, isProduction);
  const payments = readPaymentsConfig(env, isProduction);
  // Production links (emails, Stripe's return, the inventory object's emails, which answer no request)
  // come from the configured origin only, never from a request's Host or a development default.
  const urlKeys = isProduction && vars.data.PUBLIC_URL === null ? ["PUBLIC_URL"] : [];
  const moreKeys = [...(email.ok ? [] : email.keys), ...(payments.ok ? [] : payments.keys), ...urlKeys];
  let secrets: ReturnType<typeof readSecrets>;
  try {
    secrets = readSecrets(env, isProduction);
  } catch (error) {
    // Report every bad key in one line, so an operator fixes them in one deploy.
    if (error instanceof ConfigError && moreKeys.length > 0) throw new ConfigError([...error.keys, ...moreKeys]);
    throw error;
  }
  if (!email.ok || !payments.ok || urlKeys.length > 0) throw new ConfigError(moreKeys);

  return {
    environment,
    isProduction,
    devRoutes: !isProduction && vars.data.DEV_ROUTES === "1",
    outgoingAllowLoopback: !isProduction && vars.data.OUTGOING_ALLOW_LOOPBACK === "1",
    corsOrigins: vars.data.CORS_ORIGINS,
    ratePolicies,
    retentionDays,
    hashPepper: secrets.HASH_PEPPER,
    jwtKeys: secrets.JWT_KEYS,
    cookieSecret: secrets.COOKIE_SECRET,
    turnstileSecret: secrets.TURNSTILE_SECRET ?? null,
    passwordScrypt: vars.data.PASSWORD_SCRYPT,
    sessionIdleSeconds: vars.data.SESSION_IDLE_SECONDS,
    sessionMaxSeconds: vars.data.SESSION_MAX_SECONDS,
    publicUrl: vars.data.PUBLIC_URL,
    mediaSigningKeys: secrets.MEDIA_SIGNING_KEYS,
    pii: piiCipher(secrets.PII_KEYS, secrets.PII_INDEX_KEY),
    mediaMaxUploadBytes: vars.data.MEDIA_MAX_UPLOAD_BYTES,
    email: email.email,
    ticketSigningKeys: secrets.TICKET_SIGNING_KEYS ?? null,
    ticketTokenTtlSeconds: vars.data.TICKET_TOKEN_TTL_SECONDS,
    trackRetentionDays: vars.data.TRACK_RETENTION_DAYS,
    payments: payments.payments,
  };
}

const cache = new WeakMap<object, Config>();

/**
 * The environment alone, for code that must not depend on every secret parsing (Durable Objects,
 * whose alarms run whatever the request path thinks of the configuration). Same schema as
 * getConfig: unset is production; a value it does not know is treated as production too (fail closed:
 * development behaviour, such as mirroring emails into dev_mailbox, is never a fallback).
 */
export function readEnvironment(env: object): Environment {
  const parsed = environmentSchema.safeParse((env as Record<string, unknown>).ENVIRONMENT);
  return parsed.success ? parsed.data : "production";
}

const ciphers = new WeakMap<object, PiiCipher>();

/**
 * The personal-data cipher alone, by the same rules as getConfig (required in production, generated
 * for the isolate elsewhere), for code that needs nothing else: EventInventory's push seals the emails
 * it writes. Throws ConfigError when PII_KEYS or PII_INDEX_KEY is missing or malformed in production.
 */
export function piiFromEnv(env: object): PiiCipher {
  let cipher = ciphers.get(env);
  if (!cipher) {
    const production = readEnvironment(env) === "production";
    const secrets = readSecrets(env as Record<string, unknown>, production, ["PII_KEYS", "PII_INDEX_KEY"]);
    cipher = piiCipher(secrets.PII_KEYS, secrets.PII_INDEX_KEY);
    ciphers.set(env, cipher);
  }
  return cipher;
}

/** Parses `env` once and caches the result for the isolate; throws ConfigError when invalid. */
export function getConfig(env: object): Config {
  let config = cache.get(env);
  if (!config) {
    config = parse(env as Record<string, unknown>);
    cache.set(env, config);
  }
  return config;
}
