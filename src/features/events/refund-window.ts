/**
 * When attendee refunds close, tied to the gate: never after check-in opens. From then on a ticket can
 * be admitted by a device that is offline, which the event's inventory hears of only when the device
 * syncs, so a refund granted meanwhile could not be refused for a used ticket: admitted and refunded.
 * A host's policy that would end later is refused (validation-failed) when set and when the event is
 * moved; the deployment's default is cut at check-in instead, as it cannot know each event's doors.
 */
import type { FieldError } from "../../lib/errors";

const HOUR = 60 * 60 * 1000;

export interface RefundTimes {
  startsAt: number;
  checkInOpensAt: number;
}

export interface RefundTerms {
  refundable: boolean;
  cutoffHours: number;
}

/** The last instant a refund may be asked for: `cutoffHours` before the start, and never after check-in opens. */
export function refundDeadline(event: RefundTimes, cutoffHours: number): number {
  return Math.min(event.startsAt - cutoffHours * HOUR, event.checkInOpensAt);
}

/** The smallest cut-off (whole hours) that closes refunds by the time check-in opens. */
export function minimumCutoffHours(event: RefundTimes): number {
  return Math.max(0, Math.ceil((event.startsAt - event.checkInOpensAt) / HOUR));
}

/** Why a host's policy cannot stand with these times (`path`: the field the host is changing). */
export function refundWindowErrors(event: RefundTimes, policy: RefundTerms, path: string): FieldError[] {
  if (!policy.refundable) return [];
  if (event.startsAt - policy.cutoffHours * HOUR <= event.checkInOpensAt) return [];
  const opens = new Date(event.checkInOpensAt).toISOString();
  return [
    {
      path,
      message:
        path === "cutoffHours"
          ? `must be at least ${minimumCutoffHours(event)}: refunds must close by the time check-in opens (${opens})`
          : `refunds (until ${policy.cutoffHours} h before the start) must close by the time check-in opens (${opens}); raise the refund policy's cutoffHours first`,
    },
  ];
}

/** The host's own policy for the event, if they set one. */
export async function customRefundTerms(db: D1Database, eventId: string): Promise<RefundTerms | null> {
  const row = await db
    .prepare("SELECT refundable, cutoff_hours FROM refund_policies WHERE event_id = ?")
    .bind(eventId)
    .first<{ refundable: number; cutoff_hours: number }>();
  return row ? { refundable: row.refundable === 1, cutoffHours: row.cutoff_hours } : null;
}
