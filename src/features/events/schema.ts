/**
 * Event schemas. The create body is the base schema minus server-owned fields; the edit body is its
 * partial plus `version`. Left out on purpose (mass-assignment defence): `id` (server-generated),
 * `hostId` (the caller), `status` (changed only by publish/cancel), `version` on create (starts at 1).
 */
import { z } from "@hono/zod-openapi";
import { CURRENCIES, CURRENCY_MINIMUMS } from "../../config/currencies";
import { LIMITS } from "../../config/limits";

const instant = z.iso.datetime({ offset: true }).openapi({ example: "2027-03-14T19:00:00Z" });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const VenueSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    address: z.string().trim().min(1).max(500),
    lat: z.number().min(-90).max(90),
    lng: z.number().min(-180).max(180),
  })
  .openapi("Venue");

/**
 * The event's waiting room (src/features/queue, API "Hot on-sales"): `off` sells to whoever comes;
 * `on` sells only to buyers holding a queue pass, issued first come first served at `admitPerSecond`;
 * `auto` is `off` until arrivals outrun what the event's inventory object decides (past
 * LIMITS.queueAutoOnPerSecond a second, or a standing backlog at the object: durable-objects/event-inventory/queue.ts),
 * then `on` until the queue has drained.
 */
export const QueueSettings = z
  .object({
    mode: z.enum(["off", "auto", "on"]),
    /** Default 50 on create; an edit that leaves it out keeps the event's. */
    admitPerSecond: z.number().int().min(1).max(LIMITS.queueAdmitPerSecondMax).optional(),
  })
  .openapi("QueueSettings");

export const EventFields = z.object({
  title: z.string().trim().min(1).max(200),
  /** Limited HTML, sanitised on the way in. */
  description: z.string().max(20_000).default(""),
  startsAt: instant,
  endsAt: instant,
  timezone: z.string().max(64).refine(isTimeZone, "must be an IANA time zone"),
  venue: VenueSchema,
  capacity: z.number().int().min(1).max(1_000_000),
  /** Minor units; 0 = free. */
  price: z.number().int().min(0).max(100_000_000),
  currency: z.enum(CURRENCIES),
  /** Default: 1 for free events ("already registered"), 10 for paid. */
  perUserLimit: z.number().int().min(1).max(LIMITS.perUserTicketsMax).optional(),
  salesStartAt: instant.nullable().optional(),
  salesEndAt: instant.nullable().optional(),
  checkInOpensAt: instant.optional(),
  checkInClosesAt: instant.optional(),
  coverMediaId: z.string().max(64).nullable().optional(),
  /** Default: no queue ({ mode: "off", admitPerSecond: 50 }). */
  queue: QueueSettings.optional(),
});

export const CreateEventBody = EventFields.openapi("CreateEvent");
export const UpdateEventBody = EventFields.partial()
  .extend({ version: z.number().int().min(1).openapi({ description: "The version you read" }) })
  .openapi("UpdateEvent");

export type EventInput = z.infer<typeof EventFields>;

export interface EventTimes {
  startsAt: number;
  endsAt: number;
  salesStartAt: number | null;
  salesEndAt: number | null;
  checkInOpensAt: number;
  checkInClosesAt: number;
  price: number;
  currency: string;
}

/** Cross-field rules, checked on the merged result of create or edit. */
export function crossFieldErrors(e: EventTimes): { path: string; message: string }[] {
  const errors: { path: string; message: string }[] = [];
  if (e.startsAt >= e.endsAt) errors.push({ path: "endsAt", message: "must be after startsAt" });
  if (e.price > 0 && e.price < (CURRENCY_MINIMUMS[e.currency] ?? 0)) {
    errors.push({ path: "price", message: `must be 0 or at least ${CURRENCY_MINIMUMS[e.currency]} in ${e.currency}` });
  }
  if (e.salesStartAt !== null && e.salesEndAt !== null && e.salesStartAt >= e.salesEndAt) {
    errors.push({ path: "salesEndAt", message: "must be after salesStartAt" });
  }
  if (e.salesEndAt !== null && e.salesEndAt > e.startsAt) {
    errors.push({ path: "salesEndAt", message: "must not be after startsAt" });
  }
  if (e.checkInOpensAt >= e.checkInClosesAt)
    errors.push({ path: "checkInClosesAt", message: "must be after checkInOpensAt" });
  return errors;
}

export const AvailabilitySchema = z
  .object({ capacity: z.number().int(), sold: z.number().int(), held: z.number().int(), remaining: z.number().int() })
  .openapi("Availability");

export const EventSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    description: z.string(),
    startsAt: z.string(),
    endsAt: z.string(),
    timezone: z.string(),
    venue: VenueSchema,
    capacity: z.number().int(),
    price: z.number().int(),
    currency: z.string(),
    perUserLimit: z.number().int(),
    salesStartAt: z.string().nullable(),
    salesEndAt: z.string().nullable(),
    checkInOpensAt: z.string(),
    checkInClosesAt: z.string(),
    coverMediaId: z.string().nullable(),
    status: z.enum(["draft", "published", "cancelled"]),
    version: z.number().int(),
    hostId: z.string(),
    queue: z.object({ mode: z.enum(["off", "auto", "on"]), admitPerSecond: z.number().int() }),
    availability: AvailabilitySchema.optional(),
  })
  .openapi("Event");

export const EventListSchema = z
  .object({ items: z.array(EventSchema), nextCursor: z.string().nullable() })
  .openapi("EventList");

export const ListEventsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
  near: z
    .string()
    .regex(/^-?\d{1,2}(\.\d+)?,-?\d{1,3}(\.\d+)?$/, "must be lat,lng")
    .optional(),
  /** Bounded so one query cannot scan the world. */
  radiusKm: z.coerce.number().min(0.1).max(500).default(25),
});
