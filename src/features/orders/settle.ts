/**
 * Reading one's own orders right after placing one. A free order is answered by the event's object
 * as soon as it is decided and stored there; the object pushes it to D1 right after, without the buyer
 * waiting on that round trip (durable-objects/event-inventory). For the buyer's next read — the order,
 * the wallet, a ticket's QR — to find it, the session check names the events the user ordered at
 * within LIMITS.ownOrdersSettleMs (durable-objects/session-book.ts), and those reads first have each
 * of those objects finish its push (`sync`), which costs one call when there is nothing left to send.
 *
 * A push that does not finish within LIMITS.ownOrdersSettleTimeoutMs (D1 unreachable: the object's
 * alarm keeps retrying) does not fail the read: it goes on with what D1 has. Everyone else's reads
 * (a host's order list, an event's counts) never wait: they are a read model, current within the
 * push's delay.
 *
 * The note is made before the order is decided (it rides on the session check, the one call before
 * the object's). A request that is then refused — sold out, over the limit, no queue pass — takes it
 * back after answering (`takeBackRefusedOrdering`): under a sold-out flood the refused buyers' wallet
 * reads would otherwise each call the hottest object for a minute.
 */
import type { MiddlewareHandler } from "hono";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { withDeadline } from "../../lib/deadline";
import { log } from "../../lib/log";
import { unnoteOrderingInBook } from "../auth";
import { inventoryOf } from "../events";

/** Lets the pushes of the events the signed-in user just ordered at finish (see the file comment). */
export async function settleOwnOrders(c: AppContext): Promise<void> {
  const events = c.get("settleEvents");
  if (!events?.length) return;
  await Promise.all(
    events.map(async (eventId) => {
      try {
        await withDeadline(
          inventoryOf(c.env.EVENT_INVENTORY, eventId).sync(),
          LIMITS.ownOrdersSettleTimeoutMs,
          "inventory sync",
        );
      } catch (error) {
        log("warn", "own orders read before their push", { eventId, error });
      }
    }),
  );
}

/**
 * After the answer: a request whose session check noted an order and that was then refused (any
 * 4xx or 5xx; a placed order answers 2xx, or 303 from the event page's form) takes its note back.
 */
export const takeBackRefusedOrdering: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const noted = c.get("orderingNoted");
  if (!noted || c.res.status < 400) return;
  c.get("defer")(() => unnoteOrderingInBook(c.env.RATE_LIMITER, noted.userId, noted.eventId));
};
