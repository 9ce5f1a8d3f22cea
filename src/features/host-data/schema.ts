/** Schemas (zod + OpenAPI) of a host's own lists: their events, an event's orders, attendees and check-ins. */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { EventSchema } from "../events";

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
});

export const EventIdParam = z.object({ id: z.string().min(1).max(64) });

const page = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);

export const HostEventListSchema = page(EventSchema, "HostEventList");

export const HostOrderSchema = z
  .object({
    id: z.string(),
    eventId: z.string(),
    status: z.string().openapi({ description: "held, confirmed, released, expired, cancelled, refunded, …" }),
    quantity: z.number().int(),
    amount: z.number().int().openapi({ description: "Minor units of `currency`" }),
    currency: z.string(),
    createdAt: z.string(),
    buyerId: z.string(),
  })
  .openapi("HostOrder");
export const HostOrderListSchema = page(HostOrderSchema, "HostOrderList");

export const AttendeeSchema = z
  .object({
    ticketId: z.string(),
    serial: z.number().int(),
    status: z.string().openapi({ description: "active, redeemed, refunding or void" }),
    orderId: z.string(),
    redeemedAt: z.string().nullable(),
    holder: z.object({ id: z.string(), name: z.string(), email: z.string() }),
  })
  .openapi("Attendee");
export const AttendeeListSchema = page(AttendeeSchema, "AttendeeList");

export const CheckInSchema = z
  .object({
    ticketId: z.string(),
    serial: z.number().int(),
    redeemedAt: z.string(),
    deviceId: z.string().openapi({ description: "The scanner device that admitted the ticket" }),
  })
  .openapi("CheckIn");
export const CheckInListSchema = page(CheckInSchema, "CheckInList");
