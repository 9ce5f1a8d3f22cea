/**
 * Attendee pages: `/` (upcoming and nearby events), `/e/:id` (the event page and its order form),
 * its waitlist (join, leave, answer an offer), `/me/tickets` (the wallet), refund requests, and the wallet's service worker. Each page lives in
 * ./attendee/; this file is the map.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { answerWaitlist, eventPage, placeOrder } from "./attendee/event";
import { listingPage } from "./attendee/listing";
import { refundConfirmPage, submitRefund } from "./attendee/refund";
import { walletPage, walletServiceWorker } from "./attendee/wallet";

export const attendeePages = new Hono<AppEnv>()
  .get("/", listingPage)
  .get("/e/:id", (c) => eventPage(c, c.req.param("id")))
  .post("/e/:id/order", placeOrder)
  .post("/e/:id/waitlist", answerWaitlist)
  .get("/me/tickets", walletPage)
  .get("/me/sw.js", walletServiceWorker)
  .get("/me/orders/:id/refund", refundConfirmPage)
  .post("/me/orders/:id/refund", submitRefund);
