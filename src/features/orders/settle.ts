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
 */
import { LIMITS } from "../../config/limits";
import type { AppContext } from "../../context";
import { withDeadline } from "../../lib/deadline";
import { log } from "../../lib/log";
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
