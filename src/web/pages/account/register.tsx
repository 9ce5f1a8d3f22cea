/**
 * /register: name, email and password; on success a 303 to "check your email". The answer is the same
 * whether or not the address already has an account (register() mails its owner instead), so the page
 * tells no one which addresses are taken. Limited per address like POST /api/v1/auth/register.
 */
import { Hono } from "hono";
import type { Child } from "hono/jsx";
import { LIMITS } from "../../../config/limits";
import type { AppContext, AppEnv } from "../../../context";
import { authDeps } from "../../../features/auth/deps";
import { register } from "../../../features/auth/registration";
import { RegisterBody } from "../../../features/auth/schema";
import { Alert, Field, type FieldErrors } from "../../components";
import { readForm } from "../../forms";
import { pageUser, render, seeOther } from "../../page";
import {
  AccountCard,
  CHALLENGE_MESSAGE,
  csrfOf,
  EmailField,
  expectedError,
  formErrors,
  Hidden,
  limitByIp,
  PASSWORD_HINT,
  PostForm,
  safeNext,
  withQuery,
} from "./shared";

const LABELS = { name: "name", email: "email address", password: "password" };

interface RegisterState {
  next?: string;
  name?: string;
  email?: string;
  errors?: FieldErrors;
  notice?: Child;
  status?: 200 | 400 | 403;
}

async function registerPage(c: AppContext, state: RegisterState) {
  const errors = state.errors ?? {};
  return render(c, {
    title: "Create your account",
    status: state.status,
    body: (
      <AccountCard title="Create your account">
        {state.notice}
        <PostForm action="/register" csrf={await csrfOf(c)}>
          <Hidden name="next" value={state.next} />
          <Field
            name="name"
            label="Your name"
            autocomplete="name"
            value={state.name}
            error={errors.name}
            required
            maxlength={100}
          />
          <EmailField value={state.email} error={errors.email} hint="We email you a link to confirm it." />
          <Field
            name="password"
            label="Password"
            type="password"
            autocomplete="new-password"
            hint={PASSWORD_HINT}
            error={errors.password}
            required
            maxlength={1024}
          />
          <button type="submit" class="block">
            Create account
          </button>
        </PostForm>
        <p class="actions">
          <span>Already have an account?</span>
          <a href={withQuery("/login", { next: state.next })}>Sign in</a>
        </p>
      </AccountCard>
    ),
  });
}

function checkEmailPage(c: AppContext) {
  return render(c, {
    title: "Check your email",
    body: (
      <AccountCard title="Check your email">
        <p>
          We sent a link to the address you gave. Open it and confirm with the password you just chose; the link works
          for {LIMITS.verifyEmailTtlSeconds / 3600} hours.
        </p>
        <p class="muted">
          Nothing arrived? Check your spam folder, or <a href="/login?mode=code">sign in with an emailed code</a>: that
          confirms your address too.
        </p>
      </AccountCard>
    ),
  });
}

export const registerPages = new Hono<AppEnv>()
  .get("/register", async (c) => {
    const next = c.req.query("next") || undefined;
    if (c.req.query("sent")) return checkEmailPage(c);
    if (pageUser(c)) return seeOther(c, safeNext(c, next));
    return registerPage(c, { next });
  })
  .post("/register", limitByIp("auth-register"), async (c) => {
    const form = await readForm(c);
    const values = { name: form.name ?? "", email: form.email ?? "", password: form.password ?? "" };
    // Carried into the emailed link: only a target we would follow anyway.
    const next = safeNext(c, form.next, "") || undefined;
    // Typed values come back on a re-render; the password never does.
    const kept = { next, name: values.name, email: values.email };
    const parsed = RegisterBody.safeParse({ ...values, next });
    if (!parsed.success) {
      return registerPage(c, { ...kept, errors: formErrors(parsed.error, LABELS, values), status: 400 });
    }
    try {
      await register(authDeps(c), parsed.data);
    } catch (error) {
      const refused = expectedError(error, "weak-password", "challenge-required");
      if (refused.code === "weak-password") {
        return registerPage(c, { ...kept, errors: { password: refused.detail }, status: 400 });
      }
      return registerPage(c, { ...kept, notice: <Alert kind="error">{CHALLENGE_MESSAGE}</Alert>, status: 403 });
    }
    return seeOther(c, "/register?sent=1");
  });
