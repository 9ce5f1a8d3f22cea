/**
 * HTTP for accounts: /api/v1/auth/*, the browser verification link /auth/verify, and /api/v1/me.
 * Routes translate HTTP to service calls and set cookies; every rule lives in service.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { assertCsrf, CSRF_COOKIE, issueCsrfToken } from "../../http/csrf";
import { body, json, problems } from "../../http/openapi";
import { byIp, rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import { safeRedirect } from "../../lib/safe-redirect";
import { ACCESS_COOKIE, REFRESH_COOKIE } from "./authenticators";
import {
  CsrfSchema,
  EmailBody,
  LoginBody,
  MessageSchema,
  OtpVerifyBody,
  RefreshBody,
  RegisterBody,
  ResetBody,
  TokenBody,
  TokensSchema,
  UserSchema,
} from "./schema";
import * as auth from "./service";
import type { IssuedTokens } from "./sessions";
import { ACCESS_TOKEN_SECONDS } from "./tokens";
import type { PublicUser } from "./users";

function deps(c: AppContext): auth.AuthDeps {
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
  };
}

function tokensBody(tokens: IssuedTokens, user: PublicUser) {
  return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn, user };
}

/** Browser session cookies: __Host- prefix (Secure, Path=/, no Domain), HttpOnly, SameSite=Lax. */
function setSessionCookies(c: AppContext, tokens: IssuedTokens) {
  const base = { httpOnly: true, secure: true, sameSite: "Lax", path: "/" } as const;
  setCookie(c, ACCESS_COOKIE, tokens.accessToken, { ...base, maxAge: ACCESS_TOKEN_SECONDS });
  setCookie(c, REFRESH_COOKIE, tokens.refreshToken, { ...base, maxAge: c.get("config").sessionMaxSeconds });
}

function clearSessionCookies(c: AppContext) {
  for (const name of [ACCESS_COOKIE, REFRESH_COOKIE]) deleteCookie(c, name, { path: "/", secure: true });
}

const tags = ["Auth"];
const limitIp = (policy: "auth-register" | "auth-verify-email" | "auth-reset") => rateLimit({ policy, key: byIp });

const registerRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/register",
  tags,
  summary: "Create an account (verification email queued)",
  description: "Answers the same 201 for a new and an already registered email (no enumeration).",
  middleware: [limitIp("auth-register")] as const,
  request: body(RegisterBody),
  responses: {
    201: json(UserSchema, "Account created, unverified"),
    ...problems([400, "weak-password or validation-failed"], [403, "challenge-required"], [429, "rate-limited"]),
  },
});

const loginRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/login",
  tags,
  summary: "Sign in with email and password",
  request: body(LoginBody),
  responses: {
    200: json(TokensSchema, "Signed in"),
    ...problems([401, "invalid-credentials"], [403, "challenge-required"], [429, "rate-limited"]),
  },
});

const refreshRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/refresh",
  tags,
  summary: "Rotate the refresh token",
  description: "Reusing a rotated refresh token revokes the whole session.",
  request: { body: { required: false, content: { "application/json": { schema: RefreshBody } } } },
  responses: { 200: json(TokensSchema, "New token pair"), ...problems([401, "unauthorized"]) },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/logout",
  tags,
  summary: "Revoke this session",
  middleware: [requireAuth({ kind: "user" })] as const,
  security: [{ bearer: [] }],
  responses: { 204: { description: "Signed out" }, ...problems([401, "unauthorized"]) },
});

const verifyEmailRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/verify-email",
  tags,
  summary: "Verify an email address with the emailed token",
  middleware: [limitIp("auth-verify-email")] as const,
  request: body(TokenBody),
  responses: { 200: json(UserSchema, "Verified"), ...problems([400, "invalid-or-expired"], [429, "rate-limited"]) },
});

const verifyLinkRoute = createRoute({
  method: "get",
  path: "/auth/verify",
  tags,
  summary: "Browser verification link (from the email)",
  middleware: [limitIp("auth-verify-email")] as const,
  request: {
    query: z.object({ token: z.string().min(1).max(512), next: z.string().max(2048).optional() }),
  },
  responses: {
    303: { description: "Verified; redirect to `next` if allowed, else /" },
    ...problems([400, "invalid-or-expired"]),
  },
});

const forgotRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/forgot-password",
  tags,
  summary: "Email a password reset link",
  description: "Always 202 with the same body, whether or not the account exists.",
  middleware: [limitIp("auth-reset")] as const,
  request: body(EmailBody),
  responses: { 202: json(MessageSchema, "Accepted"), ...problems([429, "rate-limited"]) },
});

const resetRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/reset-password",
  tags,
  summary: "Set a new password with the emailed token; signs out everywhere",
  request: body(ResetBody),
  responses: {
    200: json(MessageSchema, "Password changed; every session revoked"),
    ...problems([400, "invalid-or-expired or weak-password"]),
  },
});

const otpRequestRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/otp/request",
  tags,
  summary: "Email a 6-digit sign-in code",
  description: "Always 202 with the same body.",
  request: body(EmailBody),
  responses: { 202: json(MessageSchema, "Accepted"), ...problems([403, "challenge-required"], [429, "rate-limited"]) },
});

const otpVerifyRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/otp/verify",
  tags,
  summary: "Sign in with an emailed code",
  request: body(OtpVerifyBody),
  responses: {
    200: json(TokensSchema, "Signed in"),
    ...problems([401, "invalid-credentials"], [423, "locked (5 failures in 15 minutes lock for 15 minutes)"]),
  },
});

const csrfRoute = createRoute({
  method: "get",
  path: "/api/v1/auth/csrf",
  tags,
  summary: "Issue a CSRF token (cookie + body) for cookie-authenticated browsers",
  responses: { 200: json(CsrfSchema, "Send it back as X-CSRF-Token on unsafe requests") },
});

const meRoute = createRoute({
  method: "get",
  path: "/api/v1/me",
  tags: ["Me"],
  summary: "The signed-in user",
  middleware: [requireAuth({ kind: "user" })] as const,
  security: [{ bearer: [] }],
  responses: { 200: json(UserSchema, "The user with roles"), ...problems([401, "unauthorized"]) },
});

const hostRoute = createRoute({
  method: "post",
  path: "/api/v1/me/host",
  tags: ["Me"],
  summary: "Become a host (requires a verified email)",
  middleware: [requireAuth({ kind: "user" })] as const,
  security: [{ bearer: [] }],
  responses: {
    200: json(UserSchema, "The user, now with role host"),
    ...problems([401, "unauthorized"], [403, "email-not-verified"]),
  },
});

const ACCEPTED = { message: "If the address can receive it, an email is on its way." };

export const authRoutes = new OpenAPIHono<AppEnv>()
  .openapi(registerRoute, async (c) => c.json(await auth.register(deps(c), c.req.valid("json")), 201))
  .openapi(loginRoute, async (c) => {
    const input = c.req.valid("json");
    const { tokens, user } = await auth.login(deps(c), input);
    if (input.cookie) setSessionCookies(c, tokens);
    return c.json(tokensBody(tokens, user), 200);
  })
  .openapi(refreshRoute, async (c) => {
    const fromBody = c.req.header("Content-Type")?.includes("json")
      ? RefreshBody.parse(await c.req.json().catch(() => ({}))).refreshToken
      : undefined;
    const fromCookie = getCookie(c, REFRESH_COOKIE);
    // A cookie-borne refresh is browser-sent: it must pass the CSRF checks like any cookie request.
    if (!fromBody && fromCookie) await assertCsrf(c);
    const presented = fromBody ?? fromCookie;
    if (!presented) throw new DomainError("unauthorized", "A refresh token is required.");
    const { tokens, user } = await auth.refresh(deps(c), presented);
    if (!fromBody) setSessionCookies(c, tokens);
    return c.json(tokensBody(tokens, user), 200);
  })
  .openapi(logoutRoute, async (c) => {
    const principal = c.get("principal");
    const sid = principal?.claims?.sid;
    if (!principal || typeof sid !== "string") throw new DomainError("unauthorized", "Sign in to continue.");
    await auth.logout(deps(c), sid, principal.id);
    clearSessionCookies(c);
    return c.body(null, 204);
  })
  .openapi(verifyEmailRoute, async (c) => c.json(await auth.verifyEmail(deps(c), c.req.valid("json").token), 200))
  .openapi(verifyLinkRoute, async (c) => {
    const { token, next } = c.req.valid("query");
    try {
      await auth.verifyEmail(deps(c), token);
    } catch (error) {
      if (!(error instanceof DomainError) || !c.req.header("Accept")?.includes("text/html")) throw error;
      return c.html(
        "<!doctype html><title>Link expired</title><p>This verification link is invalid or has expired.</p>",
        400,
      );
    }
    const self = new URL(c.req.url).origin;
    const target = safeRedirect(next, { selfOrigin: self, allowedOrigins: c.get("config").corsOrigins });
    return c.redirect(target, 303);
  })
  .openapi(forgotRoute, async (c) => {
    await auth.forgotPassword(deps(c), c.req.valid("json").email);
    return c.json(ACCEPTED, 202);
  })
  .openapi(resetRoute, async (c) => {
    const { token, password } = c.req.valid("json");
    await auth.resetPassword(deps(c), token, password);
    return c.json({ message: "Password changed. Sign in again on every device." }, 200);
  })
  .openapi(otpRequestRoute, async (c) => {
    const { email, turnstileToken } = c.req.valid("json");
    await auth.requestOtp(deps(c), email, turnstileToken);
    return c.json(ACCEPTED, 202);
  })
  .openapi(otpVerifyRoute, async (c) => {
    const { email, code } = c.req.valid("json");
    const { tokens, user } = await auth.verifyOtp(deps(c), email, code);
    return c.json(tokensBody(tokens, user), 200);
  })
  .openapi(csrfRoute, async (c) => {
    const token = await issueCsrfToken(c.get("config").cookieSecret);
    // Readable by the page's script (not HttpOnly): it must copy it into X-CSRF-Token.
    setCookie(c, CSRF_COOKIE, token, { secure: true, sameSite: "Lax", path: "/" });
    c.header("Cache-Control", "no-store");
    return c.json({ csrfToken: token }, 200);
  })
  .openapi(meRoute, async (c) => c.json(await auth.me(c.env.DB, c.get("principal")?.id ?? ""), 200))
  .openapi(hostRoute, async (c) => c.json(await auth.becomeHost(deps(c), c.get("principal")?.id ?? ""), 200));
