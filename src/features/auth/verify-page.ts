/**
 * /verify-email: the page the emailed verification link opens. Opening it changes nothing (mail
 * scanners fetch every link); the address is confirmed only by submitting its form, a POST. The
 * person who signed up enters the password they chose and keeps it; someone who did not sign up can
 * confirm without it, which drops the password someone else chose (registration.ts, verifyEmail).
 * Plain server-rendered HTML: no script at all, one nonce'd style block under a strict CSP.
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { randomToken } from "../../lib/crypto";

/** Nothing but our own nonce'd style and a form posting back here. */
export function pageCsp(nonce: string): string {
  return `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;
}

export function newNonce(): string {
  return randomToken(16);
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1c1e21}
main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #8a8f98;border-radius:8px}
button{margin-top:1rem;width:100%;padding:.7rem;font-size:1rem;border:0;border-radius:8px;background:#0b57d0;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b57d0;border:1px solid #0b57d0}
button:focus-visible,input:focus-visible{outline:3px solid #f4b400;outline-offset:2px}
.error{color:#b3261e;font-weight:600}hr{border:0;border-top:1px solid #dde;margin:1.5rem 0}`;

function layout(nonce: string, title: string, body: HtmlEscapedString | Promise<HtmlEscapedString>) {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>${title} · Gatehouse</title><style nonce="${nonce}">${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export function verifyForm(nonce: string, token: string, next: string | undefined, error?: string) {
  return layout(
    nonce,
    "Confirm your email",
    html`<h1>Confirm your email address</h1>
${error ? html`<p class="error" role="alert">${error}</p>` : ""}
<form method="post" action="/verify-email">
<input type="hidden" name="token" value="${token}">${next ? html`<input type="hidden" name="next" value="${next}">` : ""}
<label for="password">The password you chose when you signed up</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<button type="submit">Confirm and keep my password</button>
</form>
<hr>
<form method="post" action="/verify-email">
<input type="hidden" name="token" value="${token}"><input type="hidden" name="without_password" value="1">
<p>Did not sign up, or forgot the password? Confirm without it: any password chosen at sign-up is removed,
and you sign in with an emailed code or set a new password.</p>
<button type="submit" class="secondary">Confirm without a password</button>
</form>`,
  );
}

export function verifyDone(nonce: string, passwordKept: boolean) {
  return layout(
    nonce,
    "Email confirmed",
    html`<h1>Email confirmed</h1>
<p>${passwordKept ? "You can now sign in with your email and password." : "Sign in with an emailed code, or set a password with “Forgot password”."}</p>
<p><a href="/login">Sign in</a></p>`,
  );
}

export function verifyFailed(nonce: string) {
  return layout(
    nonce,
    "Link expired",
    html`<h1>This link is invalid or has expired</h1>
<p>Verification links work once and for 24 hours. Sign in with an emailed code to confirm your address.</p>
<p><a href="/login">Sign in</a></p>`,
  );
}
