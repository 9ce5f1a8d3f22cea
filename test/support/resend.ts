/**
 * A fake Resend at the HTTP boundary: `fetch` to api.resend.com is answered with Resend's documented
 * shapes (success `{ id }`, errors `{ statusCode, name, message }`, Retry-After on 429) and its
 * idempotency rule (same Idempotency-Key and body within 24 h ⇒ the original answer, different body ⇒
 * 409 invalid_idempotent_request). It answers as a route of the test's fetch router
 * (test/support/fetch-router), so other fakes can answer their own origins in the same test.
 */
import { route } from "./fetch-router";

export const RESEND_API = "https://api.resend.com";

export type ResendAnswer =
  | "accept"
  /** The provider accepts the email, but the response never arrives (connection lost). */
  | "accept-then-drop"
  /** The request never reaches the provider. */
  | "network-error"
  | { status: number; name: string; message?: string; retryAfter?: string };

export interface ResendCall {
  key: string | null;
  authorization: string | null;
  contentType: string | null;
  body: { from: string; to: string[]; subject: string; html: string; text: string };
  at: number;
}

export class FakeResend {
  readonly calls: ResendCall[] = [];
  /** Every email the provider created (a replay of an idempotent request creates none). */
  readonly created: { id: string; key: string | null; subject: string; to: string; at: number }[] = [];
  readonly #byKey = new Map<string, { id: string; payload: string }>();
  #next = 0;

  /** Decides each first-time call; replays of an accepted key are answered by the idempotency rule. */
  constructor(private script: (call: ResendCall, index: number) => ResendAnswer = () => "accept") {}

  /** Answers api.resend.com for the rest of the current test. */
  install(): this {
    route(RESEND_API, (request) => this.#answer(request));
    return this;
  }

  setScript(script: (call: ResendCall, index: number) => ResendAnswer): void {
    this.script = script;
  }

  callsFor(key: string): ResendCall[] {
    return this.calls.filter((c) => c.key === key);
  }

  async #answer(request: Request): Promise<Response> {
    const raw = await request.text();
    const call: ResendCall = {
      key: request.headers.get("Idempotency-Key"),
      authorization: request.headers.get("Authorization"),
      contentType: request.headers.get("Content-Type"),
      body: JSON.parse(raw) as ResendCall["body"],
      at: Date.now(),
    };
    this.calls.push(call);
    const previous = call.key ? this.#byKey.get(call.key) : undefined;
    if (previous) {
      if (previous.payload !== raw) {
        return error(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload.");
      }
      return Response.json({ id: previous.id }, { status: 200 });
    }
    const answer = this.script(call, this.calls.length - 1);
    if (answer === "network-error") throw new TypeError("Network connection lost.");
    if (answer === "accept" || answer === "accept-then-drop") {
      this.#next += 1;
      const id = `re_${this.#next.toString().padStart(6, "0")}`;
      if (call.key) this.#byKey.set(call.key, { id, payload: raw });
      this.created.push({ id, key: call.key, subject: call.body.subject, to: call.body.to[0] ?? "", at: call.at });
      if (answer === "accept-then-drop") throw new TypeError("Network connection lost.");
      return Response.json({ id }, { status: 200 });
    }
    return error(answer.status, answer.name, answer.message ?? answer.name, answer.retryAfter);
  }
}

/** A fake Resend answering api.resend.com for the rest of the current test, with `script` deciding first-time calls. */
export function useFakeResend(script?: (call: ResendCall, index: number) => ResendAnswer): FakeResend {
  return new FakeResend(script).install();
}

function error(status: number, name: string, message: string, retryAfter?: string): Response {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (retryAfter !== undefined) headers["Retry-After"] = retryAfter;
  return new Response(JSON.stringify({ statusCode: status, name, message }), { status, headers });
}

/** A small seeded PRNG (mulberry32), so a "random" failure pattern is the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
