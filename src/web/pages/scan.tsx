/** The scanner app `/scan`: an installable PWA for gate devices. */
import { Hono } from "hono";
import type { AppEnv } from "../../context";

export const scannerPages = new Hono<AppEnv>();
