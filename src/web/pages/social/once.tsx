/**
 * Each rendered social form (the composer, the comment form) carries a fresh key in a hidden field;
 * submitting it claims that key in the API's `idempotency_keys` table (src/http/idempotency, the same
 * conditional INSERT), so a double click, a resend after a lost answer or a reload of the POST writes
 * one post or comment, never two. The first submission runs and stores where it sent the browser; a
 * repeat of the same form is sent there too, and one arriving while the first still runs is sent
 * back to the page, where the first one's result shows. A refusal (empty text, a rate limit) releases
 * the key, so the corrected form can go again.
 */
import type { AppContext } from "../../../context";
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey } from "../../../http/idempotency";
import { randomToken, sha256Hex } from "../../../lib/crypto";
import { DomainError } from "../../../lib/errors";

/** A form key as rendered (randomToken(16)): anything else is not one of our forms. */
const FORM_KEY = /^[A-Za-z0-9_-]{16,64}$/;

export const newFormKey = (): string => randomToken(16);

export function FormKeyField(props: { value: string }) {
  return <input type="hidden" name="key" value={props.value} />;
}

/**
 * Runs `write` once per (person, form key) and returns where to send the browser: `write`'s answer,
 * the first submission's on a repeat, or `busy` while the first still runs.
 */
export async function oncePerForm(
  c: AppContext,
  userId: string,
  formKey: string | undefined,
  request: string,
  busy: string,
  write: () => Promise<string>,
): Promise<string> {
  if (!formKey || !FORM_KEY.test(formKey)) {
    throw new DomainError("bad-request", "The form could not be read. Reload the page and send it again.");
  }
  const db = c.env.DB;
  const scope = `user:${userId}`;
  const key = `page-social:${formKey}`;
  const fingerprint = await sha256Hex(request);
  const claim = await claimIdempotencyKey(db, scope, key, fingerprint);
  if (!claim.claimed) {
    const row = claim.row;
    if (row?.state === "done" && row.fingerprint === fingerprint) {
      const location = (JSON.parse(row.headers ?? "{}") as { location?: string }).location;
      if (location) return location;
    }
    if (row && row.fingerprint !== fingerprint) {
      throw new DomainError("idempotency-key-reused", "This form was already sent. Reload the page to write again.");
    }
    return busy;
  }
  let location: string;
  try {
    location = await write();
  } catch (error) {
    await releaseIdempotencyKey(db, scope, key);
    throw error;
  }
  await completeIdempotencyKey(db, scope, key, fingerprint, { status: 303, headers: { location }, body: "" });
  return location;
}
