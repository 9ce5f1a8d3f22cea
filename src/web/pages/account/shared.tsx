/**
 * What the account pages share: friendly field messages from the auth zod schemas, the API's
 * per-address rate limits answered as a page, the safe `next` after signing in, and the small
 * pieces of markup every account form repeats.
 */

import type { MiddlewareHandler } from "hono";
import type { Child } from "hono/jsx";
import type { ZodError } from "zod";
import type { AppContext, AppEnv } from "../../../context";
import { setSessionCookies } from "../../../features/auth/cookies";
import type { IssuedTokens } from "../../../features/auth/sessions";
import { byIp, rateLimit } from "../../../http/rate-limit";
import { DomainError, type ErrorCode } from "../../../lib/errors";
import { safeRedirect } from "../../../lib/safe-redirect";
import { CsrfField, Field, type FieldErrors } from "../../components";
import { errorPage, isPageRequest } from "../../errors";
import { pageState, seeOther } from "../../page";

/** Where a signed-in person goes when no (safe) `next` was given. */
export const HOME_SIGNED_IN = "/me/tickets";

/** The password rule (src/lib/password-policy.ts), as the forms state it before anyone trips it. */
export const PASSWORD_HINT = "At least 8 characters. Not a common password, and not your email address.";

/**
 * Why a sign-in or sign-up needs the Turnstile check (src/features/auth/challenge.ts), and what to do
 * instead. The widget is not offered: it needs a site key in the configuration and a frame the pages'
 * CSP does not allow (frame-src), so the page says what happened and what still works.
 */
export const CHALLENGE_MESSAGE =
  "Several sign-in attempts failed recently from your network or for this address, so an extra check that you are a person is now required, and this page cannot show it. Wait about 15 minutes and try again, or choose a new password with “Forgot your password?”.";

type Issue = ZodError["issues"][number];

/**
 * Field messages for a failed parse of one of the auth schemas: the schema decides what is wrong,
 * this says it in words a person filling in a form understands (zod's own words are for developers).
 */
export function formErrors(error: ZodError, labels: Record<string, string>, values: Record<string, string>) {
  const out: FieldErrors = {};
  for (const issue of error.issues) {
    const path = issue.path.map(String).join(".");
    out[path] ??= friendly(issue, labels[path] ?? path, (values[path] ?? "").trim() === "");
  }
  return out;
}

function friendly(issue: Issue, label: string, empty: boolean): string {
  if (empty || issue.code === "invalid_type") return `Enter your ${label}.`;
  switch (issue.code) {
    case "too_big":
      return `Use at most ${issue.maximum} characters.`;
    case "invalid_format":
      return issue.format === "email" ? "Enter an email address like name@example.com." : `Check your ${label}.`;
    default:
      return issue.message;
  }
}

/** The DomainError's code when it is one of `codes` (a form answers those in place); anything else is rethrown. */
export function expectedError<C extends ErrorCode>(error: unknown, ...codes: C[]): DomainError & { code: C } {
  if (error instanceof DomainError && (codes as ErrorCode[]).includes(error.code)) {
    return error as DomainError & { code: C };
  }
  throw error;
}

/**
 * The same per-address policy the matching API route takes (src/features/auth/routes.ts), taken before
 * the form is read. Over the limit a browser gets the branded 429 page with Retry-After; a client that
 * did not ask for HTML keeps the problem document the middleware answers.
 */
export function limitByIp(policy: "auth-register" | "auth-verify-email" | "auth-reset"): MiddlewareHandler<AppEnv> {
  const limit = rateLimit({ policy, key: byIp });
  return async function pageRateLimit(c, next) {
    const answer = await limit(c, next);
    if (!(answer instanceof Response) || !isPageRequest(c)) return answer;
    for (const name of ["RateLimit-Policy", "RateLimit"]) {
      const value = answer.headers.get(name);
      if (value) c.header(name, value);
    }
    const retryAfter = Number(answer.headers.get("Retry-After"));
    return errorPage(c, answer.status, undefined, { retryAfter: retryAfter > 0 ? retryAfter : undefined });
  };
}

/** `next` when it is safe to follow (our origin or an allowlisted one), else `fallback`. */
export function safeNext(c: AppContext, next: string | undefined, fallback = HOME_SIGNED_IN): string {
  return safeRedirect(next, {
    selfOrigin: new URL(c.req.url).origin,
    allowedOrigins: c.get("config").corsOrigins,
    fallback,
  });
}

/** A fresh session: its cookies go with a 303 to where the person was going (Post/Redirect/Get). */
export function signedIn(c: AppContext, tokens: IssuedTokens, next: string | undefined): Response {
  setSessionCookies(c, tokens);
  return seeOther(c, safeNext(c, next));
}

/** A path with its query, leaving out empty values. */
export function withQuery(path: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

export function Hidden(props: { name: string; value: string | undefined }) {
  return props.value ? <input type="hidden" name={props.name} value={props.value} /> : null;
}

/** This response's CSRF token, for the forms of the page about to render. */
export async function csrfOf(c: AppContext): Promise<string> {
  return (await pageState(c)).csrfToken;
}

/** A form posting back to `action` with the CSRF token every page form carries. */
export function PostForm(props: { action: string; csrf: string; class?: string; children: Child }) {
  return (
    <form method="post" action={props.action} class={props.class}>
      <CsrfField token={props.csrf} />
      {props.children}
    </form>
  );
}

/** The card an account page sits in: one h1, then the page. */
export function AccountCard(props: { title: string; children: Child }) {
  return (
    <section class="card narrow account">
      <h1>{props.title}</h1>
      {props.children}
    </section>
  );
}

/** The email address input every account form uses (the policy's 254-character bound). */
export function EmailField(props: { value: string | undefined; error: string | undefined; hint?: string }) {
  return (
    <Field
      name="email"
      label="Email address"
      type="email"
      autocomplete="email"
      value={props.value}
      error={props.error}
      hint={props.hint}
      required
      maxlength={254}
    />
  );
}
