/**
 * /login: sign in with email and password, or with a 6-digit code emailed on request (the second
 * mode, `?mode=code`). Every form posts back to /login; its `step` field says which. A sign-in sets
 * the session cookies and answers 303 to a safe `next` (else /me/tickets). The rules, the per-email
 * and per-address limits and the Turnstile challenge all live in the flows (src/features/auth/login.ts,
 * otp.ts); this page only words their answers: one generic message for a wrong password or code, so
 * the page tells no one which addresses have accounts.
 */
import { Hono } from "hono";
import type { Child } from "hono/jsx";
import { LIMITS } from "../../../config/limits";
import type { AppContext, AppEnv } from "../../../context";
import { authDeps } from "../../../features/auth/deps";
import { login } from "../../../features/auth/login";
import { requestOtp, verifyOtp } from "../../../features/auth/otp";
import { EmailBody, LoginBody, OtpVerifyBody } from "../../../features/auth/schema";
import { Alert, Field, type FieldErrors } from "../../components";
import { errorPage } from "../../errors";
import { type FormFields, readForm } from "../../forms";
import { pageUser, render, seeOther } from "../../page";
import {
  AccountCard,
  CHALLENGE_MESSAGE,
  csrfOf,
  EmailField,
  expectedError,
  formErrors,
  Hidden,
  PostForm,
  safeNext,
  signedIn,
  withQuery,
} from "./shared";

const LABELS = { email: "email address", password: "password", code: "6-digit code" };

const WRONG_PASSWORD = "Email or password is incorrect.";
const WRONG_CODE = "That code is incorrect or has expired. Check the newest email, or send a new code.";

interface FormState {
  next?: string;
  email?: string;
  errors?: FieldErrors;
  notice?: Child;
  status?: 200 | 400 | 401 | 403;
}

/** What brought the person here, said at the top of the page (links from sign-out, the idle timer, other pages). */
function notice(c: AppContext): Child {
  const q = (name: string) => c.req.query(name);
  if (q("expired")) {
    const minutes = Math.round(c.get("config").sessionIdleSeconds / 60);
    return (
      <Alert kind="info">
        You were signed out after {minutes} minutes without activity, to keep your account safe. Sign in again to carry
        on where you were.
      </Alert>
    );
  }
  if (q("signedOut")) return <Alert kind="success">You are signed out.</Alert>;
  if (q("reset")) {
    return (
      <Alert kind="success">
        Your password was changed and every device was signed out. Sign in with your new password.
      </Alert>
    );
  }
  if (q("verified") === "code") {
    return (
      <Alert kind="success">
        Your email address is confirmed. The password chosen at sign-up was removed: sign in with an emailed code, or
        choose a new password with “Forgot your password?”.
      </Alert>
    );
  }
  if (q("verified")) return <Alert kind="success">Your email address is confirmed. Sign in to continue.</Alert>;
  return null;
}

function MethodTabs(props: { current: "password" | "code"; next?: string }) {
  const tab = (mode: "password" | "code", label: string) => (
    <a
      class={props.current === mode ? "button" : "button secondary"}
      href={withQuery("/login", { mode: mode === "code" ? "code" : undefined, next: props.next })}
      aria-current={props.current === mode ? "page" : undefined}
    >
      {label}
    </a>
  );
  return (
    <nav class="tabs" aria-label="How to sign in">
      {tab("password", "Password")}
      {tab("code", "Email me a code")}
    </nav>
  );
}

function OtherLinks(props: { next?: string }) {
  return (
    <p class="actions">
      <a href="/forgot-password">Forgot your password?</a>
      <a href={withQuery("/register", { next: props.next })}>Create an account</a>
    </p>
  );
}

async function passwordPage(c: AppContext, state: FormState) {
  const errors = state.errors ?? {};
  return render(c, {
    title: "Sign in",
    status: state.status,
    body: (
      <AccountCard title="Sign in">
        {state.notice}
        <MethodTabs current="password" next={state.next} />
        <PostForm action="/login" csrf={await csrfOf(c)}>
          <input type="hidden" name="step" value="password" />
          <Hidden name="next" value={state.next} />
          <EmailField value={state.email} error={errors.email} />
          <Field
            name="password"
            label="Password"
            type="password"
            autocomplete="current-password"
            error={errors.password}
            required
            maxlength={1024}
          />
          <button type="submit" class="block">
            Sign in
          </button>
        </PostForm>
        <OtherLinks next={state.next} />
      </AccountCard>
    ),
  });
}

async function codeRequestPage(c: AppContext, state: FormState) {
  const errors = state.errors ?? {};
  return render(c, {
    title: "Sign in with an emailed code",
    status: state.status,
    body: (
      <AccountCard title="Sign in with an emailed code">
        {state.notice}
        <MethodTabs current="code" next={state.next} />
        <p>We email you a 6-digit code to sign in with. Signing in with it also confirms your email address.</p>
        <PostForm action="/login" csrf={await csrfOf(c)}>
          <input type="hidden" name="step" value="request-code" />
          <Hidden name="next" value={state.next} />
          <EmailField value={state.email} error={errors.email} />
          <button type="submit" class="block">
            Email me a code
          </button>
        </PostForm>
        <OtherLinks next={state.next} />
      </AccountCard>
    ),
  });
}

async function codeEntryPage(c: AppContext, state: FormState & { email: string }) {
  const errors = state.errors ?? {};
  const csrf = await csrfOf(c);
  return render(c, {
    title: "Enter your sign-in code",
    status: state.status,
    body: (
      <AccountCard title="Enter your sign-in code">
        {state.notice}
        <p>
          If <strong>{state.email}</strong> has an account, a 6-digit code is on its way. It works once, for{" "}
          {LIMITS.otpTtlSeconds / 60} minutes.
        </p>
        <PostForm action="/login" csrf={csrf}>
          <input type="hidden" name="step" value="code" />
          <input type="hidden" name="email" value={state.email} />
          <Hidden name="next" value={state.next} />
          <Field
            name="code"
            label="6-digit code"
            autocomplete="one-time-code"
            inputmode="numeric"
            pattern="[0-9]{6}"
            maxlength={6}
            error={errors.code}
            required
            autofocus
          />
          <button type="submit" class="block">
            Sign in
          </button>
        </PostForm>
        <PostForm action="/login" csrf={csrf} class="actions">
          <input type="hidden" name="step" value="request-code" />
          <input type="hidden" name="email" value={state.email} />
          <Hidden name="next" value={state.next} />
          <span class="muted">No email after a minute?</span>
          <button type="submit" class="secondary">
            Send a new code
          </button>
          <a href={withQuery("/login", { mode: "code", next: state.next })}>Use another address</a>
        </PostForm>
      </AccountCard>
    ),
  });
}

async function passwordSignIn(c: AppContext, form: FormFields, next: string | undefined) {
  const values = { email: form.email ?? "", password: form.password ?? "" };
  const parsed = LoginBody.safeParse(values);
  if (!parsed.success) {
    return passwordPage(c, {
      next,
      email: values.email,
      errors: formErrors(parsed.error, LABELS, values),
      status: 400,
    });
  }
  try {
    const { tokens } = await login(authDeps(c), { email: parsed.data.email, password: parsed.data.password });
    return signedIn(c, tokens, next);
  } catch (error) {
    const refused = expectedError(error, "invalid-credentials", "email-not-verified", "challenge-required");
    const state = { next, email: values.email, status: refused.code === "invalid-credentials" ? 401 : 403 } as const;
    if (refused.code === "email-not-verified") {
      return passwordPage(c, {
        ...state,
        notice: (
          <Alert kind="error">
            Confirm your email address first: open the link we emailed you when you signed up and enter this password
            there. Lost the email?{" "}
            <a href={withQuery("/login", { mode: "code", next })}>Sign in with an emailed code</a> instead: it confirms
            your address too.
          </Alert>
        ),
      });
    }
    const message = refused.code === "challenge-required" ? CHALLENGE_MESSAGE : WRONG_PASSWORD;
    return passwordPage(c, { ...state, notice: <Alert kind="error">{message}</Alert> });
  }
}

async function requestCode(c: AppContext, form: FormFields, next: string | undefined) {
  const values = { email: form.email ?? "" };
  const parsed = EmailBody.safeParse(values);
  if (!parsed.success) {
    return codeRequestPage(c, { next, ...values, errors: formErrors(parsed.error, LABELS, values), status: 400 });
  }
  try {
    await requestOtp(authDeps(c), parsed.data.email);
  } catch (error) {
    expectedError(error, "challenge-required");
    return codeRequestPage(c, {
      next,
      ...values,
      notice: <Alert kind="error">{CHALLENGE_MESSAGE}</Alert>,
      status: 403,
    });
  }
  // Rendered, not redirected: the address would otherwise travel in a URL (history, logs).
  return codeEntryPage(c, { next, email: parsed.data.email });
}

async function enterCode(c: AppContext, form: FormFields, next: string | undefined) {
  const values = { email: form.email ?? "", code: (form.code ?? "").replace(/\s+/g, "") };
  const parsed = OtpVerifyBody.safeParse(values);
  if (!parsed.success) {
    const errors = formErrors(parsed.error, LABELS, values);
    if (errors.email) return codeRequestPage(c, { next, email: values.email, errors, status: 400 });
    return codeEntryPage(c, { next, email: values.email, errors, status: 400 });
  }
  const { email, code } = parsed.data;
  try {
    const { tokens } = await verifyOtp(authDeps(c), email, code);
    return signedIn(c, tokens, next);
  } catch (error) {
    const refused = expectedError(error, "invalid-credentials", "locked", "challenge-required");
    if (refused.code === "locked") {
      const retryAfter = refused.extensions.retryAfter;
      return errorPage(
        c,
        429,
        "Too many wrong codes for this address, so code sign-in is paused for it. Sign in with your password, or wait and request a new code.",
        { retryAfter: typeof retryAfter === "number" ? retryAfter : undefined },
      );
    }
    if (refused.code === "challenge-required") {
      return codeEntryPage(c, { next, email, notice: <Alert kind="error">{CHALLENGE_MESSAGE}</Alert>, status: 403 });
    }
    return codeEntryPage(c, { next, email, errors: { code: WRONG_CODE }, status: 401 });
  }
}

export const signInPages = new Hono<AppEnv>()
  .get("/login", async (c) => {
    const next = c.req.query("next") || undefined;
    // Already signed in (the session may have just been refreshed for this very page): go on.
    if (pageUser(c)) return seeOther(c, safeNext(c, next));
    const state = { next, notice: notice(c) };
    return c.req.query("mode") === "code" ? codeRequestPage(c, state) : passwordPage(c, state);
  })
  .post("/login", async (c) => {
    const form = await readForm(c);
    const next = form.next || undefined;
    if (form.step === "request-code") return requestCode(c, form, next);
    if (form.step === "code") return enterCode(c, form, next);
    return passwordSignIn(c, form, next);
  });
