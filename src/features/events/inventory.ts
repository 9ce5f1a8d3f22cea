/**
 * The Worker's side of EventInventory: the stub for an event, and the one mapping from the object's
 * result codes to domain errors.
 */
import type {
  EventInventory,
  InventoryErrorCode,
  InventoryResult,
} from "../../../durable-objects/event-inventory/contract";
import { LIMITS } from "../../config/limits";
import { objectCall } from "../../lib/deadline";
import { DomainError, type ErrorCode } from "../../lib/errors";

export function inventoryOf(ns: DurableObjectNamespace<EventInventory>, eventId: string) {
  return ns.getByName(eventId);
}

/**
 * The namespace with a deadline on every call to its objects (the order path, issue 20): a call that
 * does not answer within LIMITS.inventoryCallTimeoutMs, or that the runtime refuses as overloaded,
 * is a 503 with Retry-After instead of a hung request. A claim cut off so may still have sold: the
 * buyer's retry with the same Idempotency-Key lands on the same order.
 */
export function withInventoryDeadline(
  ns: DurableObjectNamespace<EventInventory>,
  ms: number = LIMITS.inventoryCallTimeoutMs,
): DurableObjectNamespace<EventInventory> {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop === "getByName") return (name: string) => timedStub(target.getByName(name), ms);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function timedStub<T extends object>(stub: T, ms: number): T {
  return new Proxy(stub, {
    get(target, prop) {
      // Not thenable: awaiting the stub itself must not call it.
      if (typeof prop !== "string" || prop === "then") return undefined;
      return (...args: unknown[]) =>
        objectCall(
          Promise.resolve(Reflect.apply(Reflect.get(target, prop) as (...a: unknown[]) => unknown, target, args)),
          ms,
          "The event's ticket inventory",
        );
    },
  });
}

const ERROR_CODES: Record<InventoryErrorCode, ErrorCode> = {
  "sold-out": "sold-out",
  "limit-exceeded": "limit-exceeded",
  "already-registered": "already-registered",
  "not-on-sale": "not-on-sale",
  "event-started": "event-started",
  "hold-expired": "hold-expired",
  "order-not-found": "not-found",
  "already-paid": "already-paid",
  "invalid-transition": "invalid-transition",
  "capacity-below-sold": "capacity-below-sold",
  "not-configured": "not-on-sale",
  // Only reached with a stale copy of the event; the order path re-reads it and takes checkout.
  "not-free": "invalid-transition",
  // A used ticket is not refundable: the order's state forbids it, like any other refused transition.
  "ticket-redeemed": "invalid-transition",
  "queue-pass-required": "queue-pass-required",
  "not-sold-out": "not-sold-out",
  "already-waiting": "already-waiting",
  "offer-expired": "offer-expired",
  // Another user's offer answers like a missing one.
  "offer-not-found": "not-found",
  // Only the payments webhook asks for it, and keeps the hold; never an answer to a client.
  "hold-extended": "invalid-transition",
};

export function unwrap<T>(result: InventoryResult<T>): T {
  if (result.ok) return result.value;
  throw new DomainError(ERROR_CODES[result.code], result.detail);
}
