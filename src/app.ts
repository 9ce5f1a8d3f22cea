/**
 * The Hono application: the middleware pipeline in its designed order, the feature routes, the
 * OpenAPI document, and the one error mapping. `createApp` takes the authenticators (tests plug their
 * own credential schemes into the auth hook) and whether to mount the /dev routes (src/index.ts
 * decides from the configuration).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { methodNotAllowed } from "hono/method-not-allowed";
import type { AppEnv } from "./context";
import { adminRoutes } from "./features/admin/routes";
import {
  apiKeyAuthenticator,
  apiKeyRateKey,
  apiKeyRoutes,
  auditApiKeyWrites,
  isApiKeyRequest,
} from "./features/api-keys";
import { userAuthenticators } from "./features/auth/authenticators";
import { authRoutes } from "./features/auth/routes";
import { creatorLinkRoutes, handleRoutes, profileRoutes } from "./features/creators";
import { devOnly } from "./features/dev/guard";
import { devRoutes } from "./features/dev/routes";
import { docsRoutes } from "./features/docs/routes";
import { eventCancellationRoutes } from "./features/event-cancellation/routes";
import { eventRoutes } from "./features/events/routes";
import { deviceAuthenticator, isDeviceRequest } from "./features/gate/authenticator";
import { gateRoutes } from "./features/gate/routes";
import { healthRoutes } from "./features/health/routes";
import { hostDataRoutes } from "./features/host-data";
import { MEDIA_BODY_LIMITS, mediaRoutes } from "./features/media/routes";
import { metaRoutes } from "./features/meta/routes";
import { payoutRoutes, subscriptionRoutes, tipRoutes } from "./features/money";
import { addressPolicies, orderingEvent, orderRoutes, userPolicies } from "./features/orders/routes";
import { takeBackRefusedOrdering } from "./features/orders/settle";
import { paymentRoutes, STRIPE_WEBHOOK_PATH } from "./features/payments/routes";
import { piiAdminRoutes, privacyRoutes } from "./features/privacy";
import { queueRoutes } from "./features/queue";
import {
  feedRoutes,
  notificationRoutes,
  postLiveRoutes,
  postRoutes,
  reportRoutes,
  userRoutes,
} from "./features/social";
import { waitlistRoutes } from "./features/waitlist";
import { webhookEndpointRoutes } from "./features/webhooks";
import { accessLog } from "./http/access-log";
import { afterResponse } from "./http/after-response";
import { type Authenticator, authenticate } from "./http/auth";
import { bodyLimit } from "./http/body-limit";
import { loadConfig } from "./http/config";
import { cors } from "./http/cors";
import { csrf } from "./http/csrf";
import { domainErrorResponse, problem } from "./http/problem";
import { byIp, rateLimit } from "./http/rate-limit";
import { requestId } from "./http/request-id";
import { securityHeaders } from "./http/security-headers";
import { validationHook } from "./http/validation";
import { DomainError } from "./lib/errors";
import { log, redactUrl } from "./lib/log";
import { errorPage, isPageRequest, notFoundPage, pageErrorResponse } from "./web/errors";
import { pageMiddleware, webRoutes } from "./web/routes";

export interface AppOptions {
  authenticators?: readonly Authenticator[];
  /**
   * Mount the /dev routes. src/index.ts builds such an app only for a configuration with
   * DEV_ROUTES=1, which is never one in production: the production app has no /dev route at all.
   */
  devRoutes?: boolean;
}

export const API_VERSION = "1.0.0";

export function createApp(options: AppOptions = {}): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  // 0: work that runs once the answer is built (outermost, so nothing it starts can delay it).
  app.use(afterResponse());
  // 1–5: identify, log, harden, configure, CORS, bound the body.
  app.use(requestId());
  app.use(accessLog());
  app.use(securityHeaders());
  app.use(loadConfig());
  // Before methodNotAllowed: a refused /dev request must not learn from a 405 which methods a path has.
  if (options.devRoutes) app.use("/dev/*", devOnly());
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        // A browser (a form posted to a page that only shows) gets the branded page, with the same Allow.
        if (isPageRequest(c)) {
          c.header("Allow", methods.join(", "));
          return errorPage(c, 405);
        }
        return problem(
          c,
          "method-not-allowed",
          `${c.req.method} is not allowed here.`,
          { allow: methods },
          {
            Allow: methods.join(", "),
          },
        );
      },
    }),
  );
  app.use(cors());
  app.use(
    bodyLimit({
      routes: MEDIA_BODY_LIMITS,
      // A page form far over the limit (a pasted file) gets the branded 413 page, not a problem document.
      tooLarge: (c) => (isPageRequest(c) ? errorPage(c, 413) : undefined),
    }),
  );

  // 6: rate limits. Every /api route counts against the caller's address, except scanner devices:
  // a whole gate shares one address, so devices are limited per device instead, once authenticated
  // (below); hosts' API keys likewise (an integration's server, or a cloud's shared addresses), per
  // key under `api-key`, with failed keys bounded per address (src/features/api-keys/authenticator.ts).
  // Stripe's webhook deliveries have their own, larger per-address policy (a few shared Stripe
  // addresses). Routes with a per-address policy of their own (ordering's orders-ip) take it
  // in the same call.
  app.use(
    "/api/*",
    rateLimit({
      policy: "api",
      key: (c) => (isDeviceRequest(c) || isApiKeyRequest(c) || c.req.path === STRIPE_WEBHOOK_PATH ? null : byIp(c)),
      // A route's own per-address budget rides along: one round trip to the address's object.
      with: addressPolicies,
    }),
  );

  // 7–8: who is calling, and whether a cookie-borne request really comes from our pages.
  // A `Device` Authorization header is tried first: a bad device token is refused, never passed over
  // for a session cookie (the header already took the request out of the per-address api policy;
  // the device authenticator bounds made-up tokens per address under scanner-auth).
  // A `Bearer gh_live_…` API key comes before the user tokens: its value never reaches JWT verification.
  app.use(
    authenticate(
      options.authenticators ?? [
        deviceAuthenticator,
        apiKeyAuthenticator,
        ...userAuthenticators(userPolicies, orderingEvent),
      ],
    ),
  );
  // A refused order takes back the note its session check made (src/features/orders/settle.ts).
  app.use(takeBackRefusedOrdering);
  // Keyed on the authenticated device, never on the presented token: a made-up token must not bring
  // a limiter object of its own into being.
  app.use(
    "/api/*",
    rateLimit({
      policy: "scanner",
      key: (c) => {
        const principal = c.get("principal");
        return principal?.kind === "device" ? `device:${principal.id}` : null;
      },
    }),
  );
  // Per API key, once authenticated (like devices); every use of a write scope is audited.
  app.use("/api/*", rateLimit({ policy: "api-key", key: apiKeyRateKey }));
  app.use("/api/*", auditApiKeyWrites());
  app.use(csrf());
  // Pages: a browser whose access cookie expired is refreshed before the page renders.
  app.use(pageMiddleware);

  // 9: zod validation happens per route through the OpenAPI route definitions.
  app.route("/", healthRoutes);
  app.route("/", metaRoutes(API_VERSION));
  app.route("/", authRoutes);
  app.route("/", eventRoutes);
  app.route("/", eventCancellationRoutes);
  app.route("/", orderRoutes);
  app.route("/", queueRoutes);
  app.route("/", waitlistRoutes);
  app.route("/", paymentRoutes);
  app.route("/", subscriptionRoutes);
  app.route("/", payoutRoutes);
  app.route("/", tipRoutes);
  app.route("/", gateRoutes);
  app.route("/", mediaRoutes);
  app.route("/", userRoutes);
  app.route("/", postRoutes);
  app.route("/", feedRoutes);
  app.route("/", notificationRoutes);
  app.route("/", reportRoutes);
  app.route("/", postLiveRoutes);
  app.route("/", creatorLinkRoutes);
  app.route("/", handleRoutes);
  app.route("/", profileRoutes);
  app.route("/", adminRoutes);
  app.route("/", privacyRoutes);
  app.route("/", piiAdminRoutes);
  app.route("/", webhookEndpointRoutes);
  app.route("/", apiKeyRoutes);
  app.route("/", hostDataRoutes);
  app.route("/", docsRoutes);
  if (options.devRoutes) app.route("/dev", devRoutes);
  app.route("/", webRoutes);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Gatehouse API",
      version: API_VERSION,
      description: "Events, tickets, payments and the gate. Errors are RFC 9457 problem documents.",
    },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });

  app.notFound((c) =>
    isPageRequest(c) ? notFoundPage(c) : problem(c, "not-found", `No route for ${c.req.method} ${c.req.path}.`),
  );
  app.onError((error, c) => {
    // A person on a page sees a page: sign-in for a 401, a friendly explanation otherwise.
    if (isPageRequest(c)) {
      if (error instanceof HTTPException) return errorPage(c, error.status);
      if (!(error instanceof DomainError)) logUnhandled(c, error);
      return pageErrorResponse(c, error);
    }
    if (error instanceof DomainError) return domainErrorResponse(c, error);
    if (error instanceof HTTPException) {
      if (error.status === 400) return problem(c, "malformed-json", "The request body could not be parsed as JSON.");
      if (error.status === 413) return problem(c, "payload-too-large", "The request body is too large.");
      if (error.status === 415) return problem(c, "unsupported-media-type", error.message);
      if (error.status === 401) return problem(c, "unauthorized", "Sign in to continue.");
      if (error.status === 403) return problem(c, "forbidden", "You do not have permission to do this.");
    }
    // Unknown: the stack goes to the log with the request id; the client gets only the id.
    logUnhandled(c, error);
    return problem(c, "internal", "An unexpected error occurred. Quote the request id when reporting it.");
  });

  return app;
}

function logUnhandled(c: Context<AppEnv>, error: unknown): void {
  const url = new URL(c.req.url);
  log("error", "unhandled error", {
    requestId: c.get("requestId"),
    method: c.req.method,
    path: redactUrl(url.pathname + url.search),
    error,
  });
}
