/**
 * The Worker's side of EventInventory: the stub for an event, and the one mapping from the object's
 * result codes to domain errors.
 */
import type {
  EventInventory,
  InventoryErrorCode,
  InventoryResult,
} from "../../../durable-objects/event-inventory/contract";
import { DomainError, type ErrorCode } from "../../lib/errors";

export function inventoryOf(ns: DurableObjectNamespace<EventInventory>, eventId: string) {
  return ns.getByName(eventId);
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
};

export function unwrap<T>(result: InventoryResult<T>): T {
  if (result.ok) return result.value;
  throw new DomainError(ERROR_CODES[result.code], result.detail);
}
