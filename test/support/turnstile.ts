/**
 * A fake Cloudflare Turnstile siteverify at the HTTP boundary: POST
 * https://challenges.cloudflare.com/turnstile/v0/siteverify (form fields or JSON, as Cloudflare
 * accepts both) gets Cloudflare's documented success body for a token in `good`, its failure body
 * (`invalid-input-response`) for any other. It answers as a route of the test's fetch router
 * (test/support/fetch-router), so other fakes can answer their own origins in the same test.
 */
import { route } from "./fetch-router";

export const TURNSTILE_ORIGIN = "https://challenges.cloudflare.com";
export const SITEVERIFY = `${TURNSTILE_ORIGIN}/turnstile/v0/siteverify`;

export interface SiteverifyCall {
  secret: string | null;
  response: string | null;
  remoteip: string | null;
}

export class FakeTurnstile {
  readonly calls: SiteverifyCall[] = [];

  constructor(readonly good: readonly string[]) {}

  /** Answers challenges.cloudflare.com for the rest of the current test. */
  install(): this {
    route(TURNSTILE_ORIGIN, (request) => this.#answer(request));
    return this;
  }

  async #answer(request: Request): Promise<Response> {
    if (request.method !== "POST" || request.url !== SITEVERIFY) return new Response("Not Found", { status: 404 });
    const fields = await readFields(request);
    const token = fields.response;
    this.calls.push({ secret: fields.secret, response: token, remoteip: fields.remoteip });
    const body =
      token !== null && this.good.includes(token)
        ? { success: true, "error-codes": [], challenge_ts: new Date().toISOString(), hostname: "gatehouse.test" }
        : { success: false, "error-codes": ["invalid-input-response"] };
    return Response.json(body);
  }
}

async function readFields(request: Request): Promise<Record<"secret" | "response" | "remoteip", string | null>> {
  if ((request.headers.get("Content-Type") ?? "").startsWith("application/json")) {
    const body = (await request.json()) as Record<string, unknown>;
    const field = (name: string) => (typeof body[name] === "string" ? (body[name] as string) : null);
    return { secret: field("secret"), response: field("response"), remoteip: field("remoteip") };
  }
  const form = await request.formData();
  const field = (name: string) => {
    const value = form.get(name);
    return typeof value === "string" ? value : null;
  };
  return { secret: field("secret"), response: field("response"), remoteip: field("remoteip") };
}

/** A fake siteverify accepting the tokens in `good`, for the rest of the current test. */
export function useFakeTurnstile(good: readonly string[]): FakeTurnstile {
  return new FakeTurnstile(good).install();
}
