/**
 * Forgotten passwords: /forgot-password always answers the same "if an account exists, an email is
 * on its way" (no enumeration; limited per address like POST /api/v1/auth/forgot-password, and per
 * email inside the flow), and /reset-password?token= sets a new password with the emailed token. The
 * flow (src/features/auth/reset.ts) revokes every session of the account; this browser's cookies go too.
 */
import { Hono } from "hono";
import type { Child } from "hono/jsx";
import { LIMITS } from "../../../config/limits";
import type { AppContext, AppEnv } from "../../../context";
import { clearSessionCookies } from "../../../features/auth/cookies";
import { authDeps } from "../../../features/auth/deps";
import { pendingTokenOwner } from "../../../features/auth/email-tokens";
import { forgotPassword, resetPassword } from "../../../features/auth/reset";
import { EmailBody, ResetBody } from "../../../features/auth/schema";
import { Field, type FieldErrors } from "../../components";
import { readForm } from "../../forms";
import { render, seeOther } from "../../page";
import {
  AccountCard,
  csrfOf,
  EmailField,
  expectedError,
  formErrors,
  limitByIp,
  PASSWORD_HINT,
  PostForm,
} from "./shared";

const TOKEN_MAX = 512;

async function forgotPage(c: AppContext, state: { email?: string; errors?: FieldErrors; status?: 200 | 400 }) {
  return render(c, {
    title: "Forgot your password?",
    status: state.status,
    body: (
      <AccountCard title="Forgot your password?">
        <p>Enter the address you signed up with and we email you a link to choose a new password.</p>
        <PostForm action="/forgot-password" csrf={await csrfOf(c)}>
          <EmailField value={state.email} error={state.errors?.email} />
          <button type="submit" class="block">
            Email me a link
          </button>
        </PostForm>
        <p class="actions">
          <a href="/login">Back to sign in</a>
          <a href="/login?mode=code">Sign in with an emailed code</a>
        </p>
      </AccountCard>
    ),
  });
}

function forgotSentPage(c: AppContext) {
  return render(c, {
    title: "Check your email",
    body: (
      <AccountCard title="Check your email">
        <p>
          If an account exists for that address, an email with a link to choose a new password is on its way. The link
          works once, for {LIMITS.resetPasswordTtlSeconds / 60} minutes.
        </p>
        <p class="actions">
          <a href="/login">Back to sign in</a>
        </p>
      </AccountCard>
    ),
  });
}

function invalidResetLinkPage(c: AppContext) {
  return render(c, {
    title: "Link expired",
    status: 400,
    body: (
      <AccountCard title="This link is invalid or has expired">
        <p>
          Password reset links work once, for {LIMITS.resetPasswordTtlSeconds / 60} minutes, and only the newest one you
          asked for. Ask for a new link and use it soon.
        </p>
        <p class="actions">
          <a class="button" href="/forgot-password">
            Ask for a new link
          </a>
        </p>
      </AccountCard>
    ),
  });
}

async function resetPage(
  c: AppContext,
  state: { token: string; email: string; error?: string; notice?: Child; status?: 200 | 400 },
) {
  return render(c, {
    title: "Choose a new password",
    status: state.status,
    body: (
      <AccountCard title="Choose a new password">
        {state.notice}
        <p>Every device signed in to your account is signed out once it is changed.</p>
        <PostForm action="/reset-password" csrf={await csrfOf(c)}>
          <input type="hidden" name="token" value={state.token} />
          {/* For password managers: which account the new password belongs to. */}
          <input type="hidden" name="username" autocomplete="username" value={state.email} />
          <Field
            name="password"
            label="New password"
            type="password"
            autocomplete="new-password"
            hint={PASSWORD_HINT}
            error={state.error}
            required
            maxlength={1024}
            autofocus
          />
          <button type="submit" class="block">
            Change password
          </button>
        </PostForm>
      </AccountCard>
    ),
  });
}

export const passwordPages = new Hono<AppEnv>()
  .get("/forgot-password", (c) => (c.req.query("sent") ? forgotSentPage(c) : forgotPage(c, {})))
  .post("/forgot-password", limitByIp("auth-reset"), async (c) => {
    const form = await readForm(c);
    const values = { email: form.email ?? "" };
    const parsed = EmailBody.safeParse(values);
    if (!parsed.success) {
      return forgotPage(c, {
        ...values,
        errors: formErrors(parsed.error, { email: "email address" }, values),
        status: 400,
      });
    }
    await forgotPassword(authDeps(c), parsed.data.email);
    return seeOther(c, "/forgot-password?sent=1");
  })
  .get("/reset-password", async (c) => {
    const token = c.req.query("token") ?? "";
    // Reading the token's state changes nothing; a dead link says so before anyone types a password.
    const owner =
      token && token.length <= TOKEN_MAX ? await pendingTokenOwner(authDeps(c), token, "reset-password") : null;
    if (!owner) return invalidResetLinkPage(c);
    return resetPage(c, { token, email: owner.email });
  })
  .post("/reset-password", async (c) => {
    const form = await readForm(c);
    const parsed = ResetBody.safeParse({ token: form.token ?? "", password: form.password ?? "" });
    if (!parsed.success && parsed.error.issues.some((issue) => issue.path[0] === "token")) {
      return invalidResetLinkPage(c);
    }
    const email = form.username ?? "";
    if (!parsed.success) {
      const values = { password: form.password ?? "" };
      const error = formErrors(parsed.error, { password: "new password" }, values).password;
      return resetPage(c, { token: form.token ?? "", email, error, status: 400 });
    }
    try {
      await resetPassword(authDeps(c), parsed.data.token, parsed.data.password);
    } catch (error) {
      const refused = expectedError(error, "weak-password", "invalid-or-expired");
      if (refused.code === "invalid-or-expired") return invalidResetLinkPage(c);
      return resetPage(c, { token: parsed.data.token, email, error: refused.detail, status: 400 });
    }
    // The flow revoked every session, this browser's included: it forgets the dead cookies now.
    clearSessionCookies(c);
    return seeOther(c, "/login?reset=1");
  });
