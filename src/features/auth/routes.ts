/**
 * HTTP for accounts: /api/v1/auth/*, /api/v1/me, and /auth/verify, which only redirects links in
 * emails sent before the /verify-email confirmation page existed (that page, like every account page,
 * is in src/web/pages/account/). Routes translate HTTP to service calls and set cookies; every rule
 * lives in the flow files that ./service.ts re-exports.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { assertCsrf, CSRF_COOKIE, issueCsrfToken } from "../../http/csrf";
import { body, json, problems } from "../../http/openapi";
import { byIp, rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { REFRESH_COOKIE } from "./authenticators";
import { clearSessionCookies, setSessionCookies } from "./cookies";
import { authDeps } from "./deps";
import {
  CsrfSchema,
  EmailBody,
  LoginBody,
  MessageSchema,
  OtpVerifyBody,
  RefreshBody,
  RegisterBody,
  ResetBody,
  TokensSchema,
  UserSchema,
  VerifiedSchema,
  VerifyEmailBody,
} from "./schema";
import * as auth from "./service";
import type { IssuedTokens } from "./sessions";
import type { PublicUser } from "./users";

const deps = authDeps;

function tokensBody(tokens: IssuedTokens, user: PublicUser) {
  return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn, user };
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
    ...problems("weak-password", "validation-failed", "challenge-required", "rate-limited"),
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
    ...problems(
      "invalid-credentials",
      "challenge-required",
      ["email-not-verified", "right password, address not yet confirmed"],
      "rate-limited",
    ),
  },
});

const refreshRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/refresh",
  tags,
  summary: "Rotate the refresh token",
  description:
    "Reusing a rotated refresh token revokes the whole session, except a retry within 10 s of the rotation whose answer was lost: it gets the same new pair. A failed cookie refresh clears the session cookies.",
  request: { body: { required: false, content: { "application/json": { schema: RefreshBody } } } },
  responses: { 200: json(TokensSchema, "New token pair"), ...problems("unauthorized") },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/logout",
  tags,
  summary: "Revoke this session",
  middleware: [requireAuth({ kind: "user" })] as const,
  security: [{ bearer: [] }],
  responses: { 204: { description: "Signed out" }, ...problems("unauthorized") },
});

const verifyEmailRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/verify-email",
  tags,
  summary: "Verify an email address with the emailed token",
  description:
    "With `password` (the one chosen at sign-up) the password is kept. Without it, the address's owner has proven control alone: a password chosen before verification is cleared and every earlier session revoked (`passwordKept: false`). A wrong password is 401 and consumes nothing.",
  middleware: [limitIp("auth-verify-email")] as const,
  request: body(VerifyEmailBody),
  responses: {
    200: json(VerifiedSchema, "Verified"),
    ...problems("invalid-or-expired", "invalid-credentials", "rate-limited"),
  },
});

const verifyLinkRoute = createRoute({
  method: "get",
  path: "/auth/verify",
  tags,
  summary: "Verification link of emails sent before /verify-email existed",
  description:
    "Changes nothing: answers 303 to the /verify-email confirmation page with the same token and `next` (a GET never verifies; mail scanners fetch links).",
  request: {
    query: z.object({ token: z.string().min(1).max(512), next: z.string().max(2048).optional() }),
  },
  responses: { 303: { description: "To /verify-email, where a POST confirms" } },
});

const forgotRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/forgot-password",
  tags,
  summary: "Email a password reset link",
  description: "Always 202 with the same body, whether or not the account exists.",
  middleware: [limitIp("auth-reset")] as const,
  request: body(EmailBody),
  responses: { 202: json(MessageSchema, "Accepted"), ...problems("rate-limited") },
});

const resetRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/reset-password",
  tags,
  summary: "Set a new password with the emailed token; signs out everywhere",
  request: body(ResetBody),
  responses: {
    200: json(MessageSchema, "Password changed; every session revoked"),
    ...problems("invalid-or-expired", "weak-password"),
  },
});

const otpRequestRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/otp/request",
  tags,
  summary: "Email a 6-digit sign-in code",
  description: "Always 202 with the same body.",
  request: body(EmailBody),
  responses: { 202: json(MessageSchema, "Accepted"), ...problems("challenge-required", "rate-limited") },
});

const otpVerifyRoute = createRoute({
  method: "post",
  path: "/api/v1/auth/otp/verify",
  tags,
  summary: "Sign in with an emailed code",
  request: body(OtpVerifyBody),
  responses: {
    200: json(TokensSchema, "Signed in"),
    ...problems(
      "invalid-credentials",
      ["challenge-required", "platform-wide wrong-code budget spent"],
      ["locked", "5 failures in 15 minutes lock for 15 minutes"],
      ["rate-limited", "otp-verify-ip: wrong codes from this address; otp-verify-global without a challenge"],
    ),
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
  responses: { 200: json(UserSchema, "The user with roles"), ...problems("unauthorized") },
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
    ...problems("unauthorized", "email-not-verified"),
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
    let refreshed: Awaited<ReturnType<typeof auth.refresh>>;
    try {
      refreshed = await auth.refresh(deps(c), presented);
    } catch (error) {
      // A dead cookie must not keep failing every request: the browser forgets it with this answer.
      if (!fromBody) clearSessionCookies(c);
      throw error;
    }
    const { tokens, user } = refreshed;
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
  .openapi(verifyEmailRoute, async (c) => {
    const { token, password } = c.req.valid("json");
    const { user, passwordKept } = await auth.verifyEmail(deps(c), token, password);
    return c.json({ ...user, passwordKept }, 200);
  })
  .openapi(verifyLinkRoute, async (c) => {
    const { token, next } = c.req.valid("query");
    const page = new URL("/verify-email", c.req.url);
    page.searchParams.set("token", token);
    if (next) page.searchParams.set("next", next);
    return c.redirect(`${page.pathname}${page.search}`, 303);
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
    const { email, code, turnstileToken } = c.req.valid("json");
    const { tokens, user } = await auth.verifyOtp(deps(c), email, code, turnstileToken);
    return c.json(tokensBody(tokens, user), 200);
  })
  .openapi(csrfRoute, async (c) => {
    const token = await issueCsrfToken(c.get("config").cookieSecret);
    // Readable by the page's script (not HttpOnly): it must copy it into X-CSRF-Token.
    setCookie(c, CSRF_COOKIE, token, { secure: true, sameSite: "Lax", path: "/" });
    c.header("Cache-Control", "no-store");
    return c.json({ csrfToken: token }, 200);
  })
  .openapi(meRoute, async (c) =>
    c.json(await auth.me({ db: c.env.DB, config: c.get("config") }, c.get("principal")?.id ?? ""), 200),
  )
  .openapi(hostRoute, async (c) => c.json(await auth.becomeHost(deps(c), c.get("principal")?.id ?? ""), 200));
