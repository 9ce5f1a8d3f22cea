/**
 * Typed configuration: bindings, vars and secrets parsed with zod once per isolate (cached per env
 * object). Production fails closed on a missing or malformed secret; development and test get safe
 * generated defaults so `npm run dev` just works.
 */
import { z } from "zod";
import { randomToken } from "../lib/crypto";
import { type RatePolicies, resolveRatePolicies } from "./limits";

export type Environment = "development" | "test" | "production";

export interface Config {
  environment: Environment;
  isProduction: boolean;
  /** Browser origins allowed by CORS and trusted as same-site redirect targets. */
  corsOrigins: readonly string[];
  ratePolicies: RatePolicies;
  /** HMAC key for hashing identifiers that must not be stored or logged raw (user ids, IPs, emails). */
  hashPepper: string;
}

/** Secrets: required in production, generated per isolate elsewhere. */
const SECRET_KEYS = ["HASH_PEPPER"] as const;
type SecretKey = (typeof SECRET_KEYS)[number];

const secret = z.string().min(32, "must be at least 32 characters");

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

const varsSchema = z.object({
  ENVIRONMENT: z.enum(["development", "test", "production"]).default("production"),
  CORS_ORIGINS: originList,
  RATE_LIMITS: z.string().optional(),
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

  const bad: string[] = [];
  const secrets = {} as Record<SecretKey, string>;
  for (const key of SECRET_KEYS) {
    const value = env[key];
    const parsed = secret.safeParse(value);
    if (parsed.success) {
      secrets[key] = parsed.data;
    } else if (!isProduction && (value === undefined || value === "")) {
      let generated = generatedSecrets.get(key);
      if (!generated) {
        generated = randomToken(32);
        generatedSecrets.set(key, generated);
      }
      secrets[key] = generated;
    } else {
      bad.push(key);
    }
  }
  if (bad.length > 0) throw new ConfigError(bad);

  return {
    environment,
    isProduction,
    corsOrigins: vars.data.CORS_ORIGINS,
    ratePolicies,
    hashPepper: secrets.HASH_PEPPER,
  };
}

const cache = new WeakMap<object, Config>();

/** Parses `env` once and caches the result for the isolate; throws ConfigError when invalid. */
export function getConfig(env: object): Config {
  let config = cache.get(env);
  if (!config) {
    config = parse(env as Record<string, unknown>);
    cache.set(env, config);
  }
  return config;
}
