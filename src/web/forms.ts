/** Reading a page's form POST: the CSRF check every form passes, then its fields as strings. */
import type { AppContext } from "../context";
import { assertCsrf, CSRF_FIELD } from "../http/csrf";
import { DomainError } from "../lib/errors";

export type FormFields = Record<string, string>;

/**
 * Every form of every page, signed in or not (a login form too: login CSRF), passes the same checks
 * as a cookie-borne API call: same origin, and the signed double-submit token in its `_csrf` field.
 */
export async function readForm(c: AppContext): Promise<FormFields> {
  await assertCsrf(c);
  // A body that cannot be parsed (a multipart message cut short) is the sender's fault: a 400 page,
  // not an unhandled error.
  const body: Record<string, unknown> = await c.req.parseBody().catch(() => {
    throw new DomainError("bad-request", "The form could not be read. Reload the page and send it again.");
  });
  const fields: FormFields = {};
  for (const [name, value] of Object.entries(body)) {
    if (name !== CSRF_FIELD && typeof value === "string") fields[name] = value;
  }
  return fields;
}
