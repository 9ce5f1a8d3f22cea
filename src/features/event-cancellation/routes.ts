/** POST /api/v1/events/:id/cancel: the host's cancellation, with its refunds (./index.ts). */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { caller, transition } from "../events";
import { cancelEventAndRefund } from ".";

export const eventCancellationRoutes = new OpenAPIHono<AppEnv>().openapi(
  transition("cancel", "Cancel the event (terminal; voids tickets, notifies attendees, refunds paid orders)"),
  async (c) => c.json(await cancelEventAndRefund(c, caller(c), c.req.valid("param").id), 200),
);
