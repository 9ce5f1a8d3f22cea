/**
 * Higher limits for Pro (config/plans.ts): a rate-limit middleware that counts an entitled user's
 * requests under the Pro policy (e.g. `posts-pro`, twice `posts`) and everyone else's under the base
 * one. Whether the user is Pro is asked per request (the route passes money's `isPro`, one indexed
 * D1 read), so a lapse takes effect at once.
 */
import type { MiddlewareHandler } from "hono";
import type { RatePolicyName } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { rateLimit } from ".";

export function planRateLimit(options: {
  policy: RatePolicyName;
  pro: RatePolicyName;
  key: (c: AppContext) => string | null | Promise<string | null>;
  /** Whether the signed-in user of `c` is entitled to Pro now. */
  isPro: (c: AppContext, userId: string) => Promise<boolean>;
}): MiddlewareHandler<AppEnv> {
  const free = rateLimit({ policy: options.policy, key: options.key });
  const paid = rateLimit({ policy: options.pro, key: options.key });
  return async function planRateLimit(c, next) {
    const principal = c.get("principal");
    const pro = principal?.kind === "user" && (await options.isPro(c, principal.id));
    return (pro ? paid : free)(c, next);
  };
}
