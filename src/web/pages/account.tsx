/** Account pages: register, sign in, verify email, forgot and reset password. */
import { Hono } from "hono";
import type { AppEnv } from "../../context";

export const accountPages = new Hono<AppEnv>();
