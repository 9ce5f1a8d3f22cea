/**
 * Cloudflare Turnstile server-side validation (siteverify). A token is single use and valid for
 * 300 s; the response shape is Cloudflare's documented `{ success, "error-codes": [...] }`.
 */
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";

export const SITEVERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

export async function verifyTurnstile(secret: string, token: string, ip: string | null): Promise<boolean> {
  const form = new FormData();
  form.append("secret", secret);
  form.append("response", token);
  if (ip) form.append("remoteip", ip);
  form.append("idempotency_key", crypto.randomUUID());
  try {
    const res = await fetch(SITEVERIFY_URL, {
      method: "POST",
      body: form,
      signal: AbortSignal.timeout(LIMITS.turnstileTimeoutMs),
    });
    if (!res.ok) return false;
    const body = (await res.json()) as { success?: boolean; "error-codes"?: string[] };
    if (!body.success) log("info", "turnstile rejected", { errors: body["error-codes"] ?? [] });
    return body.success === true;
  } catch (error) {
    log("warn", "turnstile siteverify failed", { error });
    return false;
  }
}
