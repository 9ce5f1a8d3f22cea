/**
 * Email delivery configuration: which transport sends, and its credentials. `log` (development and
 * test default) only marks rows sent — the dev mailbox already shows them — so it is refused in
 * production, where mail must really leave. `resend` needs RESEND_API_KEY (secret) and EMAIL_FROM
 * (var); a missing or malformed one fails closed like every other secret.
 */
import { z } from "zod";

export type EmailConfig = { transport: "log" } | { transport: "resend"; apiKey: string; from: string };

/** `addr@domain` or `Display Name <addr@domain>`, the two forms Resend documents for `from`. */
const mailbox = /^(?:[^<>\r\n]{1,100} <[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)$/;

const transport = z.enum(["log", "resend"]);
// Whitespace inside a key is a paste error (a trailing newline), worth catching at boot, not per email.
const resendKey = z.string().regex(/^\S{8,}$/);
const from = z.string().regex(mailbox);

/**
 * Reads the email settings. Returns the names of the offending keys (never their values) instead of
 * throwing, so the caller can report them together with other configuration errors.
 */
export function readEmailConfig(
  env: Record<string, unknown>,
  isProduction: boolean,
): { ok: true; email: EmailConfig } | { ok: false; keys: string[] } {
  const raw = env.EMAIL_TRANSPORT;
  const chosen = transport.safeParse(raw === undefined || raw === "" ? (isProduction ? "resend" : "log") : raw);
  if (!chosen.success || (chosen.data === "log" && isProduction)) return { ok: false, keys: ["EMAIL_TRANSPORT"] };
  if (chosen.data === "log") return { ok: true, email: { transport: "log" } };

  const apiKey = resendKey.safeParse(env.RESEND_API_KEY);
  const sender = from.safeParse(env.EMAIL_FROM);
  const bad = [...(apiKey.success ? [] : ["RESEND_API_KEY"]), ...(sender.success ? [] : ["EMAIL_FROM"])];
  if (!apiKey.success || !sender.success) return { ok: false, keys: bad };
  return { ok: true, email: { transport: "resend", apiKey: apiKey.data, from: sender.data } };
}
