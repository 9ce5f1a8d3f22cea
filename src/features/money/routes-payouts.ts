/**
 * HTTP for payouts (the contract's "Money for hosts and creators"): start or resume Stripe Connect
 * onboarding, and read the payout account's state. Hosts and creators (a claimed handle) only; without
 * Stripe keys both answer 503 payments-not-configured. Rules live in connect.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { requirePayments } from "../payments";
import { assertMayReceivePayouts, onboardingLink, readPayoutAccount, summaryOf } from "./connect";

const tags = ["Money"];
const security = [{ bearer: [] }];

function caller(c: AppContext): { id: string; roles: readonly string[] } {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return { id: principal.id, roles: principal.roles };
}

export const PayoutSummarySchema = z
  .object({
    status: z.enum(["none", "onboarding", "restricted", "active"]).openapi({
      description:
        "none: no Stripe account yet · onboarding: Stripe's form not finished · restricted: Stripe does not let it take charges or pay out (see requirements) · active: charges and payouts enabled",
    }),
    chargesEnabled: z.boolean(),
    payoutsEnabled: z.boolean(),
    requirements: z.object({
      currentlyDue: z.array(z.string()),
      pastDue: z.array(z.string()),
      disabledReason: z.string().nullable(),
    }),
  })
  .openapi("PayoutSummary");

const startRoute = createRoute({
  method: "post",
  path: "/api/v1/me/payouts/account",
  tags,
  summary: "Start or resume payouts onboarding (Stripe Connect Express): a one-time onboarding URL",
  description:
    "Creates the connected account once (a retry never makes a second one) and answers a fresh Account Link; Stripe sends the person back to /host?payouts=done (or ?payouts=refresh when the link expired).",
  security,
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` }),
  ] as const,
  responses: {
    200: json(z.object({ onboardingUrl: z.string().url() }).openapi("PayoutOnboarding"), "Go there to onboard"),
    ...problems(["forbidden", "not a host or creator"], "payment-provider-error", "payments-not-configured"),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/api/v1/me/payouts",
  tags,
  summary: "The caller's payout account: status, whether it can take charges and pay out, Stripe's requirements",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: {
    200: json(PayoutSummarySchema, "The payout account"),
    ...problems(["forbidden", "not a host or creator"], "payments-not-configured"),
  },
});

/** Where Stripe sends the person back: PUBLIC_URL in production, else this request's origin. */
export function publicOrigin(c: AppContext): string {
  return c.get("config").publicUrl?.replace(/\/+$/, "") ?? new URL(c.req.url).origin;
}

export const payoutRoutes = new OpenAPIHono<AppEnv>()
  .openapi(startRoute, async (c) => {
    const deps = requirePayments(c);
    const user = caller(c);
    await assertMayReceivePayouts(deps.db, user);
    const onboardingUrl = await onboardingLink(deps, user.id, publicOrigin(c));
    return c.json({ onboardingUrl }, 200);
  })
  .openapi(getRoute, async (c) => {
    const deps = requirePayments(c);
    const user = caller(c);
    await assertMayReceivePayouts(deps.db, user);
    return c.json(summaryOf(await readPayoutAccount(deps.db, user.id)), 200);
  });
