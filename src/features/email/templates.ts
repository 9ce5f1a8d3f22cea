/**
 * Email templates: subject, plain text and HTML for each message the platform sends. Every value
 * interpolated into HTML is escaped; links are built by callers from validated parts only, always
 * absolute on PUBLIC_URL (or, in the Worker without it, the request's origin) and to a page that exists
 * (test/web/account.test.ts opens every one).
 */

export type EmailTemplate =
  | { template: "verify-email"; name: string; link: string }
  | { template: "register-existing"; name: string; loginLink: string; resetLink: string }
  | { template: "reset-password"; name: string; link: string }
  | { template: "password-changed"; name: string }
  | { template: "otp-code"; code: string; minutes: number }
  | {
      template: "order-confirmed";
      name: string;
      eventTitle: string;
      startsAt: string;
      serials: number[];
      ticketsLink: string;
    }
  | { template: "event-cancelled"; name: string; eventTitle: string; paid: boolean }
  | {
      /** A ticket held for someone on a sold-out event's waitlist, until `expiresAt` (ISO). */
      template: "waitlist-offer";
      name: string;
      eventTitle: string;
      expiresAt: string;
      /** The event's page with the offer (`/e/:id?offer=…`): accept or decline there, signed in. */
      link: string;
    }
  | {
      template: "refund-issued";
      name: string;
      eventTitle: string;
      /** Minor units of `currency` (ISO 4217), as everywhere in Gatehouse. */
      amount: number;
      currency: string;
    }
  | {
      /** To the host: a buyer opened a dispute (chargeback) with their bank. */
      template: "payment-disputed";
      name: string;
      eventTitle: string;
      orderId: string;
      amount: number;
      currency: string;
      /** Stripe's dispute reason code, e.g. `fraudulent`, `product_not_received`. */
      reason: string;
    }
  | {
      /** A person's data export (src/features/privacy): a signed download link, valid until `expiresAt` (ISO). */
      template: "data-export-ready";
      name: string;
      link: string;
      expiresAt: string;
    }
  | {
      /**
       * To a host: one of their webhook endpoints failed every delivery for LIMITS.webhookDisableAfterMs
       * and was disabled. Names it by id and host name only (its URL may carry the host's own token).
       */
      template: "webhook-endpoint-disabled";
      name: string;
      endpointId: string;
      endpointHost: string;
      /** ISO 8601: the first failure of the run. */
      failingSince: string;
    }
  | {
      /**
       * To a host: an API key was created on their account (a credential that outlives sessions: a
       * password reset does not revoke it). Names the key and what it may do, never the key itself.
       */
      template: "api-key-created";
      name: string;
      keyName: string;
      prefix: string;
      scopes: string[];
    }
  | {
      /** To the fan (account or guest email): their tip to a creator went through. */
      template: "tip-receipt";
      creatorName: string;
      amount: number;
      currency: string;
      tipId: string;
    };

/**
 * Whether a template's body carries a live credential: a single-use link (verification, password
 * reset) or a sign-in code. `email_tokens` and `otp_codes` keep only hashes of these; a rendered body
 * left in the outbox would undo that, so the outbox drops such a body in the same statement that marks
 * the email sent or dead-lettered (./delivery.ts). Exhaustive: a new template must decide.
 * `register-existing` links to the sign-in and forgot-password pages, which carry no token.
 */
export const CARRIES_SECRET: Record<EmailTemplate["template"], boolean> = {
  "verify-email": true,
  "reset-password": true,
  "otp-code": true,
  "register-existing": false,
  "password-changed": false,
  "order-confirmed": false,
  "event-cancelled": false,
  // The offer's id alone accepts nothing: only its signed-in user can.
  "waitlist-offer": false,
  "refund-issued": false,
  "payment-disputed": false,
  "tip-receipt": false,
  "webhook-endpoint-disabled": false,
  // The key's prefix only: the key itself is shown once, to its creator, and never stored.
  "api-key-created": false,
  // The signed link opens the whole archive of what we hold about the person until it expires.
  "data-export-ready": true,
};

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);
}

function page(paragraphs: string[]): string {
  return `<!doctype html><html><body style="font-family:sans-serif">${paragraphs.map((p) => `<p>${p}</p>`).join("")}</body></html>`;
}

/** "€12.50" from 1250 EUR: the currency's own number of minor digits (JPY has none). */
export function formatMoney(amount: number, currency: string): string {
  const format = new Intl.NumberFormat("en", { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(amount / 10 ** digits);
}

const link = (href: string, label: string) => `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;

export function renderEmail(message: EmailTemplate): RenderedEmail {
  switch (message.template) {
    case "verify-email":
      return {
        subject: "Verify your email for Gatehouse",
        text: `Hi ${message.name},\n\nConfirm your email address by opening this link (valid for 24 hours):\n${message.link}\n\nIf you did not sign up, ignore this email.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `Confirm your email address (the link is valid for 24 hours): ${link(message.link, "verify my email")}`,
          "If you did not sign up, ignore this email.",
        ]),
      };
    case "register-existing":
      return {
        subject: "Someone tried to sign up with your email",
        text: `Hi ${message.name},\n\nSomeone (perhaps you) tried to create a Gatehouse account with this email address, which already has one.\nSign in: ${message.loginLink}\nForgot your password? ${message.resetLink}\n\nIf it was not you, you can ignore this email.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          "Someone (perhaps you) tried to create a Gatehouse account with this email address, which already has one.",
          `${link(message.loginLink, "Sign in")} · ${link(message.resetLink, "Reset your password")}`,
          "If it was not you, you can ignore this email.",
        ]),
      };
    case "reset-password":
      return {
        subject: "Reset your Gatehouse password",
        text: `Hi ${message.name},\n\nChoose a new password with this link (valid for 1 hour, usable once):\n${message.link}\n\nIf you did not ask for this, ignore this email; your password is unchanged.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `Choose a new password (the link is valid for 1 hour, usable once): ${link(message.link, "reset my password")}`,
          "If you did not ask for this, ignore this email; your password is unchanged.",
        ]),
      };
    case "password-changed":
      return {
        subject: "Your Gatehouse password was changed",
        text: `Hi ${message.name},\n\nYour password was just changed and every device was signed out.\nIf this was not you, reset your password at once and contact support.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          "Your password was just changed and every device was signed out.",
          "If this was not you, reset your password at once and contact support.",
        ]),
      };
    case "order-confirmed": {
      const count = message.serials.length;
      const numbers = message.serials.map((n) => `#${n}`).join(", ");
      return {
        subject: `Your ticket${count > 1 ? "s" : ""} for ${message.eventTitle}`,
        text: `Hi ${message.name},\n\nYou're going to ${message.eventTitle} on ${message.startsAt} (UTC).\nTicket${count > 1 ? "s" : ""}: ${numbers}\nYour QR code is in your tickets: ${message.ticketsLink}`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `You're going to <strong>${escapeHtml(message.eventTitle)}</strong> on ${escapeHtml(message.startsAt)} (UTC).`,
          `Ticket${count > 1 ? "s" : ""}: ${escapeHtml(numbers)}`,
          `Your QR code is in ${link(message.ticketsLink, "your tickets")}.`,
        ]),
      };
    }
    case "event-cancelled":
      return {
        subject: `Cancelled: ${message.eventTitle}`,
        text: `Hi ${message.name},\n\n${message.eventTitle} has been cancelled by its host and your tickets are void.${message.paid ? "\nYour payment will be refunded to the original payment method." : ""}`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `<strong>${escapeHtml(message.eventTitle)}</strong> has been cancelled by its host and your tickets are void.`,
          ...(message.paid ? ["Your payment will be refunded to the original payment method."] : []),
        ]),
      };
    case "waitlist-offer":
      return {
        subject: `A ticket for ${message.eventTitle} is yours to take`,
        text: `Hi ${message.name},\n\nA ticket for ${message.eventTitle} came free and we are holding it for you until ${message.expiresAt} (UTC).\nAccept or decline it here: ${message.link}\nIf you do nothing, it goes to the next person in line.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `A ticket for <strong>${escapeHtml(message.eventTitle)}</strong> came free and we are holding it for you until ${escapeHtml(message.expiresAt)} (UTC).`,
          `${link(message.link, "Accept or decline it")}. If you do nothing, it goes to the next person in line.`,
        ]),
      };
    case "refund-issued": {
      const money = formatMoney(message.amount, message.currency);
      return {
        subject: `Refund issued: ${message.eventTitle}`,
        text: `Hi ${message.name},\n\nWe refunded ${money} for ${message.eventTitle} to your original payment method.\nBanks usually take 5 to 10 business days to show it.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `We refunded <strong>${escapeHtml(money)}</strong> for <strong>${escapeHtml(message.eventTitle)}</strong> to your original payment method.`,
          "Banks usually take 5 to 10 business days to show it.",
        ]),
      };
    }
    case "payment-disputed": {
      const money = formatMoney(message.amount, message.currency);
      return {
        subject: `Payment disputed: ${message.eventTitle}`,
        text: `Hi ${message.name},\n\nA buyer disputed a payment of ${money} for ${message.eventTitle} with their bank (reason: ${message.reason}).\nOrder: ${message.orderId}\nThe order is flagged. Respond to the dispute in your payment dashboard before its deadline.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `A buyer disputed a payment of <strong>${escapeHtml(money)}</strong> for <strong>${escapeHtml(message.eventTitle)}</strong> with their bank (reason: ${escapeHtml(message.reason)}).`,
          `Order: ${escapeHtml(message.orderId)}. The order is flagged.`,
          "Respond to the dispute in your payment dashboard before its deadline.",
        ]),
      };
    }
    case "data-export-ready":
      return {
        subject: "Your Gatehouse data export is ready",
        text: `Hi ${message.name},\n\nThe copy of your data you asked for is ready. Download it (a JSON file) until ${message.expiresAt} (UTC):\n${message.link}\n\nAnyone with this link can download the file: do not forward this email. If you did not ask for it, change your password.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `The copy of your data you asked for is ready: ${link(message.link, "download it")} (a JSON file) until ${escapeHtml(message.expiresAt)} (UTC).`,
          "Anyone with this link can download the file: do not forward this email. If you did not ask for it, change your password.",
        ]),
      };
    case "tip-receipt": {
      const money = formatMoney(message.amount, message.currency);
      return {
        subject: `Your tip to ${message.creatorName}`,
        text: `Thank you!\n\nYour tip of ${money} to ${message.creatorName} went through.\nReceipt: ${message.tipId}`,
        html: page([
          "Thank you!",
          `Your tip of <strong>${escapeHtml(money)}</strong> to <strong>${escapeHtml(message.creatorName)}</strong> went through.`,
          `Receipt: ${escapeHtml(message.tipId)}`,
        ]),
      };
    }
    case "webhook-endpoint-disabled":
      return {
        subject: "A webhook endpoint was disabled",
        text: `Hi ${message.name},\n\nYour webhook endpoint ${message.endpointId} (${message.endpointHost}) has failed every delivery since ${message.failingSince} (UTC), so we disabled it and stopped sending to it.\nFix the receiver, then enable the endpoint again (PATCH /api/v1/me/webhook-endpoints/${message.endpointId} with {"enabled": true}); its delivery log shows what it answered, and failed deliveries can be replayed.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `Your webhook endpoint <strong>${escapeHtml(message.endpointId)}</strong> (${escapeHtml(message.endpointHost)}) has failed every delivery since ${escapeHtml(message.failingSince)} (UTC), so we disabled it and stopped sending to it.`,
          `Fix the receiver, then enable the endpoint again (PATCH /api/v1/me/webhook-endpoints/${escapeHtml(message.endpointId)} with {"enabled": true}); its delivery log shows what it answered, and failed deliveries can be replayed.`,
        ]),
      };
    case "api-key-created": {
      const scopes = message.scopes.join(", ");
      return {
        subject: "A new API key was created on your Gatehouse account",
        text: `Hi ${message.name},\n\nAn API key named "${message.keyName}" (${message.prefix}…) was just created on your account. It may: ${scopes}.\nIf this was not you, revoke it at once on your host dashboard's Integrations page (/host/integrations), then reset your password: a password reset signs every device out, but keys stay until revoked.`,
        html: page([
          `Hi ${escapeHtml(message.name)},`,
          `An API key named <strong>${escapeHtml(message.keyName)}</strong> (<code>${escapeHtml(message.prefix)}…</code>) was just created on your account. It may: ${escapeHtml(scopes)}.`,
          "If this was not you, revoke it at once on your host dashboard's Integrations page (/host/integrations), then reset your password: a password reset signs every device out, but keys stay until revoked.",
        ]),
      };
    }
    case "otp-code":
      return {
        subject: `Your Gatehouse sign-in code: ${message.code}`,
        text: `Your sign-in code is ${message.code}. It is valid for ${message.minutes} minutes and can be used once.\nIf you did not ask for it, ignore this email.`,
        html: page([
          `Your sign-in code is <strong>${escapeHtml(message.code)}</strong>.`,
          `It is valid for ${message.minutes} minutes and can be used once. If you did not ask for it, ignore this email.`,
        ]),
      };
  }
}
