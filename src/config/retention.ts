/**
 * How long each kind of stored record is kept (GDPR art. 5(1)(e), storage limitation): the one table
 * the retention job (src/features/retention) works from, and docs/privacy.md describes. Periods are
 * days; `RETENTION_DAYS` (JSON, e.g. {"audit-log": 730}) overrides any of them per deployment, within
 * 1–3650 days. Idempotency keys are not here: each carries its own expiry (24 h) when written.
 */
export const RETENTION_KINDS = [
  "audit-log",
  "sessions",
  "email-tokens",
  "email-outbox",
  "dev-mailbox",
  "dead-letters",
  "stripe-payloads",
  "outgoing-webhooks",
  "retired-handles",
] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

export type RetentionDays = Readonly<Record<RetentionKind, number>>;

export const DEFAULT_RETENTION_DAYS: RetentionDays = {
  /** Security and money actions: a year, the span an investigation or a chargeback looks back. */
  "audit-log": 365,
  /** Sessions (and their refresh tokens) 30 days after they expired: long enough to answer "was that me?". */
  sessions: 30,
  /** Verification and reset links, one day after they expired (used or not). */
  "email-tokens": 1,
  /** Finished outbox emails (address, subject and body), 30 days after they were written. */
  "email-outbox": 30,
  /** The development mailbox (never written in production). */
  "dev-mailbox": 7,
  /** Dead letters an operator replayed; open ones stay until they are dealt with. */
  "dead-letters": 90,
  /** Processed Stripe webhook payloads (they carry buyer details): 10× Stripe's redelivery window. */
  "stripe-payloads": 30,
  /** Outgoing webhook events with their deliveries and attempt log. */
  "outgoing-webhooks": 30,
  /**
   * A handle retired (renamed away from, or its owner erased), a day after its grace ended: free for
   * anyone since, and its row would only go on tying the name to its former owner's id.
   */
  "retired-handles": 1,
};

const DAY_MIN = 1;
const DAY_MAX = 3650;

/** The defaults with `raw`'s overrides; throws on an unknown kind or a period out of bounds. */
export function resolveRetentionDays(raw: string | undefined): RetentionDays {
  if (!raw?.trim()) return DEFAULT_RETENTION_DAYS;
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
  const days: Record<string, number> = { ...DEFAULT_RETENTION_DAYS };
  for (const [kind, value] of Object.entries(parsed)) {
    if (!(RETENTION_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown kind ${kind}`);
    if (typeof value !== "number" || !Number.isInteger(value) || value < DAY_MIN || value > DAY_MAX) {
      throw new Error(`${kind}: a whole number of days in ${DAY_MIN}–${DAY_MAX}`);
    }
    days[kind] = value;
  }
  return days as RetentionDays;
}
