/**
 * Ticket QR codes: a fresh short-lived signed token for the ticket's holder (see ./token.ts), as
 * JSON or as an SVG image. Only the holder's own active tickets: anyone else's ticket answers 404
 * exactly like a missing one (no BOLA oracle); a void or used ticket answers 409 not-active.
 */
import { renderSVG } from "uqr";
import type { Config } from "../../config";
import { DomainError } from "../../lib/errors";
import { iso } from "../../lib/time";
import { ticketKeyRing } from "./keys";
import { signTicketToken } from "./token";

export interface QrDeps {
  db: D1Database;
  config: Config;
}

export async function mintTicketQr(deps: QrDeps, userId: string, ticketId: string, now = Date.now()) {
  const ticket = await deps.db
    .prepare("SELECT id, event_id, status FROM tickets WHERE id = ? AND user_id = ?")
    .bind(ticketId, userId)
    .first<{ id: string; event_id: string; status: string }>();
  if (!ticket) throw new DomainError("not-found", "No such ticket.");
  if (ticket.status !== "active") {
    throw new DomainError(
      "not-active",
      ticket.status === "redeemed"
        ? "This ticket was already used."
        : ticket.status === "refunding"
          ? "This ticket is being refunded."
          : "This ticket is void.",
    );
  }
  const ring = await ticketKeyRing(deps.config);
  // Whole seconds: the token carries seconds, and the answer must state exactly what it carries.
  const issuedAt = Math.floor(now / 1000) * 1000;
  const expiresAt = issuedAt + deps.config.ticketTokenTtlSeconds * 1000;
  const token = await signTicketToken(ring.signer, {
    ticketId: ticket.id,
    eventId: ticket.event_id,
    issuedAt,
    expiresAt,
  });
  return {
    token,
    ticketId: ticket.id,
    issuedAt: iso(issuedAt),
    expiresAt: iso(expiresAt),
  };
}

/**
 * The token as an SVG QR code: error correction M (15%, for scuffed phone screens) and the 4-module
 * quiet zone ISO/IEC 18004 asks for, which gate scanners rely on to find the code.
 */
export const QR_OPTIONS = { ecc: "M", border: 4, pixelSize: 8 } as const;

export function qrSvg(token: string): string {
  return renderSVG(token, QR_OPTIONS);
}
