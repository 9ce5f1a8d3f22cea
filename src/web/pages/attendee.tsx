/** Attendee pages: `/` (upcoming and nearby events), `/e/:id` (the event page), `/me/tickets` (wallet). */
import { Hono } from "hono";
import type { AppEnv } from "../../context";

export const attendeePages = new Hono<AppEnv>();
