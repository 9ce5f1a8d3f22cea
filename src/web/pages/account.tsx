/**
 * Account pages: /register, /login (password or emailed code), /verify-email, /forgot-password and
 * /reset-password, one file each under ./account/. Sign-out (POST /logout) and the idle-timeout
 * warning are the layout's (src/web/routes.ts, src/web/layout.tsx); /login explains both.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { passwordPages } from "./account/password";
import { registerPages } from "./account/register";
import { signInPages } from "./account/sign-in";
import { verifyEmailPages } from "./account/verify-email";

export const accountPages = new Hono<AppEnv>()
  .route("/", signInPages)
  .route("/", registerPages)
  .route("/", verifyEmailPages)
  .route("/", passwordPages);
