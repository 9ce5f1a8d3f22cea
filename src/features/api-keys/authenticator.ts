/**
 * `Authorization: Bearer gh_live_…`: hosts' API keys, in the same authenticator chain as user tokens
 * (src/app.ts puts this one first, so a key's value never reaches JWT verification). Every request
 * reads the key's row by its hash (one indexed D1 read, joined with the host's roles), so a revoked
 * key is refused from the very next request: API traffic is not the ticket hot path, and a cache
 * would be a window in which a revoked key still works.
 *
 * A key of an erased account (its row kept as a pseudonym) is refused like a revoked one.
 *
 * The principal acts as the host (id = host id) with role `host` only while the host has it, and
 * carries the key's scopes: src/http/auth holds it back from every route that does not name a scope
 * the key holds. A key-shaped credential that is unknown or revoked answers 401, never anonymous.
 *
 * Key requests skip the per-address `api` policy (an integration's server, or a cloud's shared
 * addresses, would hit it long before the key's own `api-key` budget, src/app.ts); made-up keys are
 * bounded per address instead: each failure counts under `api-key-auth`, and an address over it gets
 * 429 (answered from the isolate's memory of the block, without a limiter call) until it cools down.
 */
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { byIp } from "../../http/rate-limit";
import { DomainError, rateLimitedError } from "../../lib/errors";
import { consumeRate, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { API_KEY_PREFIX, apiKeyShape, hashApiKey } from "./keys";
import { touchLastUsed } from "./last-used";

const SCHEME = /^Bearer\s+/i;

function presentedKey(c: AppContext): string | undefined {
  const header = c.req.header("Authorization");
  if (!header || !SCHEME.test(header)) return undefined;
  const value = header.replace(SCHEME, "").trim();
  return value.startsWith(API_KEY_PREFIX) ? value : undefined;
}

/**
 * Whether the request presents a well-formed API key: app.ts takes such requests out of the
 * per-address `api` policy (a malformed one stays in it, and is refused without any lookup).
 */
export function isApiKeyRequest(c: AppContext): boolean {
  const key = presentedKey(c);
  return key !== undefined && apiKeyShape(key);
}

/** The per-key rate key (`apikey:<id>`) of a request authenticated by a key, else null. */
export function apiKeyRateKey(c: AppContext): string | null {
  const id = c.get("scopedPrincipal")?.claims?.apiKeyId;
  return typeof id === "string" ? `apikey:${id}` : null;
}

const unauthorizedKey = () => new DomainError("unauthorized", "Unknown or revoked API key.");

/** Counts a failed key against the address; 429 once the address is over `api-key-auth`. Fails open. */
async function countFailure(c: AppContext): Promise<void> {
  const policy = c.get("config").ratePolicies["api-key-auth"];
  try {
    const decision = await consumeRate(c.env.RATE_LIMITER, byIp(c), policy, 1);
    if (!decision.allowed) {
      throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many failed API keys.");
    }
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
  }
}

interface KeyLookup {
  id: string;
  host_id: string;
  scopes: string;
  last_used_at: number | null;
  roles: string;
}

export const apiKeyAuthenticator: Authenticator = async (c) => {
  const key = presentedKey(c);
  if (key === undefined) return undefined;
  // Not a key we could have minted: nothing to look up, and nothing worth counting.
  if (!apiKeyShape(key)) throw unauthorizedKey();
  const row = await c.env.DB.prepare(
    `SELECT k.id, k.host_id, k.scopes, k.last_used_at, u.roles FROM api_keys k JOIN users u ON u.id = k.host_id
     WHERE k.key_hash = ? AND k.revoked_at IS NULL AND u.erased_at IS NULL`,
  )
    .bind(await hashApiKey(key))
    .first<KeyLookup>();
  if (!row) {
    await countFailure(c);
    throw unauthorizedKey();
  }
  touchLastUsed(c, row.id, row.last_used_at);
  const roles = JSON.parse(row.roles) as string[];
  return {
    kind: "user",
    id: row.host_id,
    // Only the host role, and only while the host has it: a key never carries admin or other roles.
    roles: roles.includes("host") ? ["host"] : [],
    via: "api-key",
    scopes: JSON.parse(row.scopes) as string[],
    claims: { apiKeyId: row.id },
  } satisfies Principal;
};
