/**
 * Before each test file: the platform-wide budgets start full. In the `shared` project
 * (vitest.config.ts) files share a database and objects, and a file that sends emails or checks
 * sign-in codes under a clock frozen far ahead leaves these budgets spent until that time: the next
 * file's emails would wait for months. Per-address and per-user budgets need no reset (their keys
 * are fresh in every test).
 */
import { env } from "cloudflare:workers";
import { getConfig } from "../../src/config";
import { GLOBAL_EMAIL_KEY } from "../../src/features/email/throttle";
import { resetRate } from "../../src/lib/rate-limit-client";

const policies = getConfig(env).ratePolicies;
await resetRate(env.RATE_LIMITER, GLOBAL_EMAIL_KEY, policies["email-global"]);
await resetRate(env.RATE_LIMITER, "global:otp-verify", policies["otp-verify-global"]);
