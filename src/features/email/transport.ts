/**
 * Email transports: how the queue consumer hands one rendered email to the outside world, and what
 * came back, already classified (sent, transient, permanent) so delivery logic never reads HTTP.
 * `log` is the development transport: the dev mailbox already holds the message (written with the
 * outbox row), so "sending" is a log line and marking the row sent. `resend` is in ./resend.ts.
 */
import type { EmailConfig } from "../../config/email";
import { log } from "../../lib/log";
import { resendTransport } from "./resend";

export interface OutgoingEmail {
  /** The outbox id: also the provider's idempotency key, so a retried call is never a second email. */
  id: string;
  to: string;
  template: string;
  subject: string;
  text: string;
  html: string;
}

export type SendOutcome =
  | { kind: "sent"; providerMessageId: string | null }
  /** Worth retrying (429, 5xx, timeout, network). `retryAfterSeconds` is the provider's Retry-After. */
  | { kind: "transient"; reason: string; retryAfterSeconds: number | null }
  /** The provider will never accept this message as it is: dead-letter it now. */
  | { kind: "permanent"; reason: string };

export interface EmailTransport {
  readonly name: string;
  send(email: OutgoingEmail): Promise<SendOutcome>;
}

export const logTransport: EmailTransport = {
  name: "log",
  async send(email) {
    // Never the recipient or the body: sign-in codes and reset links are credentials.
    log("info", "email sent (log transport)", { outboxId: email.id, template: email.template });
    return { kind: "sent", providerMessageId: null };
  },
};

export function transportFor(config: EmailConfig): EmailTransport {
  return config.transport === "resend" ? resendTransport(config.apiKey, config.from) : logTransport;
}
