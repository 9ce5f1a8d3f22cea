/**
 * The Turnstile challenge that login, register and otp/request demand once an address or an email
 * has failed repeatedly (counted in the challenge-ip and challenge-email policies).
 */
import { DomainError } from "../../lib/errors";
import type { AuthDeps } from "./deps";
import { addressKey, emailKey, giveBack, peek, spend } from "./guards";
import { verifyTurnstile } from "./turnstile";

/**
 * After 3 failed sign-ins for an address or an email within 15 minutes, login, register and
 * otp/request need a valid Turnstile token too. Off when no secret is configured (development).
 */
export async function requireChallengeIfSuspicious(deps: AuthDeps, email: string, token: string | undefined) {
  const secret = deps.config.turnstileSecret;
  if (!secret) return;
  const policies = deps.config.ratePolicies;
  const [byIp, byEmail] = await Promise.all([
    peek(deps.limiter, addressKey(deps.meta.ip), policies["challenge-ip"]),
    peek(deps.limiter, await emailKey(deps.config.hashPepper, email), policies["challenge-email"]),
  ]);
  if (byIp.allowed && byEmail.allowed) return;
  if (!token || !(await verifyTurnstile(secret, token, deps.meta.ip))) {
    throw new DomainError("challenge-required", "Complete the human verification challenge and retry.", {
      challenge: "turnstile",
    });
  }
}

/**
 * Login counts every attempt against the challenge counters *before* the password is checked, so a
 * concurrent burst across many emails from one address is counted as it happens (peeking first and
 * counting failures afterwards would let the whole burst through). A successful attempt gives its
 * units back: only failures remain counted. Returns the give-back for the success path.
 */
export async function countAttemptForChallenge(deps: AuthDeps, email: string, token: string | undefined) {
  const policies = deps.config.ratePolicies;
  const ipKey = addressKey(deps.meta.ip);
  const mailKey = await emailKey(deps.config.hashPepper, email);
  const [byIp, byEmail] = await Promise.all([
    spend(deps.limiter, ipKey, policies["challenge-ip"]),
    spend(deps.limiter, mailKey, policies["challenge-email"]),
  ]);
  const secret = deps.config.turnstileSecret;
  if (secret && !(byIp.allowed && byEmail.allowed)) {
    if (!token || !(await verifyTurnstile(secret, token, deps.meta.ip))) {
      throw new DomainError("challenge-required", "Complete the human verification challenge and retry.", {
        challenge: "turnstile",
      });
    }
  }
  return async () => {
    await Promise.all([
      byIp.allowed ? giveBack(deps.limiter, ipKey, policies["challenge-ip"]) : undefined,
      byEmail.allowed ? giveBack(deps.limiter, mailKey, policies["challenge-email"]) : undefined,
    ]);
  };
}
