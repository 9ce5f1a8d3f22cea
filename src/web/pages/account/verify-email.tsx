/**
 * /verify-email: the page the emailed verification link opens. Opening it changes nothing (mail
 * scanners fetch every link); the address is confirmed only by submitting one of its forms, a POST
 * with the CSRF token. The person who signed up enters the password they chose and keeps it; someone
 * who did not sign up can confirm without it, which drops the password someone else chose
 * (src/features/auth/registration.ts, verifyEmail). Limited per address like the API's
 * POST /api/v1/auth/verify-email. GET /auth/verify, the link of older emails, redirects here.
 */
import { Hono } from "hono";
import { LIMITS } from "../../../config/limits";
import type { AppContext, AppEnv } from "../../../context";
import { authDeps } from "../../../features/auth/deps";
import { verifyEmail } from "../../../features/auth/registration";
import { VerifyEmailForm } from "../../../features/auth/schema";
import { Alert, Field } from "../../components";
import { readForm } from "../../forms";
import { render, seeOther } from "../../page";
import { AccountCard, csrfOf, expectedError, Hidden, limitByIp, PostForm, safeNext, withQuery } from "./shared";

const TOKEN_MAX = 512;

async function confirmPage(
  c: AppContext,
  state: { token: string; next?: string; error?: string; status?: 200 | 400 | 401 },
) {
  const csrf = await csrfOf(c);
  return render(c, {
    title: "Confirm your email",
    status: state.status,
    body: (
      <AccountCard title="Confirm your email address">
        {state.error ? <Alert kind="error">{state.error}</Alert> : null}
        <PostForm action="/verify-email" csrf={csrf}>
          <input type="hidden" name="token" value={state.token} />
          <Hidden name="next" value={state.next} />
          <Field
            name="password"
            label="The password you chose when you signed up"
            type="password"
            autocomplete="current-password"
            required
            maxlength={1024}
          />
          <button type="submit" class="block">
            Confirm and keep my password
          </button>
        </PostForm>
        <h2>Did not sign up, or forgot the password?</h2>
        <PostForm action="/verify-email" csrf={csrf}>
          <input type="hidden" name="token" value={state.token} />
          <input type="hidden" name="without_password" value="1" />
          <p>
            Confirm without it: any password chosen at sign-up is removed, and you sign in with an emailed code or set a
            new password.
          </p>
          <button type="submit" class="secondary block">
            Confirm without a password
          </button>
        </PostForm>
      </AccountCard>
    ),
  });
}

function invalidLinkPage(c: AppContext) {
  return render(c, {
    title: "Link expired",
    status: 400,
    body: (
      <AccountCard title="This link is invalid or has expired">
        <p>
          Verification links work once and for {LIMITS.verifyEmailTtlSeconds / 3600} hours. Sign in with an emailed code
          to confirm your address.
        </p>
        <p class="actions">
          <a class="button" href="/login?mode=code">
            Sign in with an emailed code
          </a>
        </p>
      </AccountCard>
    ),
  });
}

export const verifyEmailPages = new Hono<AppEnv>()
  .get("/verify-email", async (c) => {
    const token = c.req.query("token") ?? "";
    if (!token || token.length > TOKEN_MAX) return invalidLinkPage(c);
    return confirmPage(c, { token, next: c.req.query("next") || undefined });
  })
  .post("/verify-email", limitByIp("auth-verify-email"), async (c) => {
    const parsed = VerifyEmailForm.safeParse(await readForm(c));
    if (!parsed.success) return invalidLinkPage(c);
    const form = parsed.data;
    const password = form.without_password ? undefined : form.password;
    if (!form.without_password && !password) {
      return confirmPage(c, { token: form.token, next: form.next, error: "Enter your password.", status: 400 });
    }
    try {
      const { passwordKept } = await verifyEmail(authDeps(c), form.token, password);
      if (passwordKept && form.next) return seeOther(c, safeNext(c, form.next, "/"));
      // Without its password the account has none left: the sign-in page opens on the emailed code.
      const done = passwordKept ? { verified: "1" } : { mode: "code", verified: "code" };
      return seeOther(c, withQuery("/login", { ...done, next: form.next && safeNext(c, form.next, "") }));
    } catch (error) {
      const refused = expectedError(error, "invalid-credentials", "invalid-or-expired");
      if (refused.code === "invalid-or-expired") return invalidLinkPage(c);
      return confirmPage(c, { token: form.token, next: form.next, error: refused.detail, status: 401 });
    }
  });
