/**
 * Creator pages: `/@:handle` (the public profile, ./profile.tsx) and `/onboarding` (name, handle and
 * picture in one step, ./onboarding.tsx), `/me/analytics` (the creator's own numbers, ./analytics.tsx)
 * and `/tips/:id/thanks` (where Stripe Checkout sends a fan back after a tip, ./tips.tsx).
 * `/@*` is a static prefix: see profile.tsx for why.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../../context";
import { analyticsPage } from "./analytics";
import { onboardingPage } from "./onboarding";
import { profilePage } from "./profile";
import { tipThanksPage } from "./tips";

export const creatorPages = new Hono<AppEnv>()
  .get("/@*", profilePage)
  .get("/onboarding", onboardingPage)
  .get("/me/analytics", analyticsPage)
  .get("/tips/:id/thanks", tipThanksPage);
