/** What every account flow is given: bindings, config, the caller, and the password policy check. */
import type { Config } from "../../config";
import type { AppContext } from "../../context";
import type { Defer } from "../../http/after-response";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import { checkPasswordPolicy } from "../../lib/password-policy";
import type { RequestMeta } from "../audit";
import type { EmailQueue } from "../email";
import type { LimiterNamespace } from "./guards";

export interface AuthDeps {
  db: D1Database;
  config: Config;
  limiter: LimiterNamespace;
  meta: RequestMeta;
  /** Absolute origin used to build links in emails. */
  origin: string;
  /** Emails written by a batch are handed to this queue once the batch commits. */
  emailQueue: EmailQueue;
  /**
   * Runs a task once the answer is built (src/http/after-response). For work only a known account
   * causes: waiting on it would tell known emails from unknown ones by timing.
   */
  defer: Defer;
  now?: number;
}

export const now = (deps: AuthDeps) => deps.now ?? Date.now();

/** Where sessions live: D1, and the session book in the users' shards of the limiter's objects. */
export const sessionStores = (deps: AuthDeps) => ({ db: deps.db, sessions: deps.limiter });

/** The dependencies of a flow run for this request (the API routes and the pages alike). */
export function authDeps(c: AppContext): AuthDeps {
  const config = c.get("config");
  return {
    db: c.env.DB,
    config,
    limiter: c.env.RATE_LIMITER,
    meta: {
      requestId: c.get("requestId"),
      ip: clientIp(c.req.raw.headers),
      userAgent: c.req.header("User-Agent") ?? null,
    },
    origin: config.publicUrl ?? new URL(c.req.url).origin,
    emailQueue: c.env.EMAIL_QUEUE,
    defer: c.get("defer"),
  };
}

export function assertPasswordPolicy(password: string, email: string): void {
  const result = checkPasswordPolicy(password, email);
  if (!result.ok) {
    const detail = {
      "too-short": "Use at least 8 characters.",
      "too-long": "Use at most 128 characters.",
      common: "This password is too common; choose another.",
      "equals-email": "Do not use your email address as your password.",
    }[result.reason];
    throw new DomainError("weak-password", detail, { reason: result.reason });
  }
}
