/** Host pages: `/host` (their events) and `/host/events/:id` (live sales, analytics, devices). */
import { Hono } from "hono";
import type { AppEnv } from "../../context";

export const hostPages = new Hono<AppEnv>();
