/**
 * The outbound-fetch boundary for tests: one `vi.spyOn(globalThis, "fetch")` per test that hands each
 * request to the fake registered for its origin (`route("https://api.stripe.com", handler)`), so fake
 * Stripe, fake Resend and fake Turnstile can answer in the same test. Once a test routes anything,
 * a request to an origin nobody routed throws (naming the URL) instead of reaching the network.
 * The spy is removed when the test finishes (and `vi.restoreAllMocks()` removes it too; the next
 * `route` then installs a fresh one with no routes).
 */
import { onTestFinished, vi } from "vitest";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface RoutedRequest {
  method: string;
  url: string;
}

interface Router {
  readonly fetch: typeof globalThis.fetch;
  readonly routes: Map<string, FetchHandler>;
  /** Every request that went through the router, routed or not, in order. */
  readonly requests: RoutedRequest[];
  restore(): void;
}

let current: Router | null = null;

/** Thrown for an outbound request to an origin no fake answers. */
export class UnroutedFetchError extends Error {
  constructor(method: string, url: string, routed: string[]) {
    super(
      `unrouted outbound fetch: ${method} ${url} (routed: ${routed.length > 0 ? routed.join(", ") : "none"}); ` +
        "register a fake for its origin with route() from test/support/fetch-router",
    );
    this.name = "UnroutedFetchError";
  }
}

function originOf(target: string): string {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new Error(`route() needs an absolute origin such as "https://api.stripe.com", got "${target}"`);
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    throw new Error(`route() takes an origin without a path ("${url.origin}"), got "${target}"`);
  }
  return url.origin;
}

function router(): Router {
  // A spy restored by vi.restoreAllMocks() (or by the test itself) leaves globalThis.fetch pointing
  // elsewhere: that router is gone, and a new one starts empty.
  if (current && globalThis.fetch === current.fetch) return current;
  const routes = new Map<string, FetchHandler>();
  const requests: RoutedRequest[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const origin = new URL(request.url).origin;
    requests.push({ method: request.method, url: request.url });
    const handler = routes.get(origin);
    if (!handler) throw new UnroutedFetchError(request.method, request.url, [...routes.keys()]);
    return handler(request);
  });
  const installed: Router = {
    fetch: globalThis.fetch,
    routes,
    requests,
    restore() {
      spy.mockRestore();
      if (current === installed) current = null;
    },
  };
  current = installed;
  // Installed from a test or its beforeEach: gone when the test finishes, whatever it restores.
  onTestFinished(() => installed.restore());
  return installed;
}

/**
 * Answers every outbound request to `origin` (scheme, host and port; any path) with `handler` for the
 * rest of the current test. Routing an origin again replaces its handler.
 */
export function route(origin: string, handler: FetchHandler): void {
  router().routes.set(originOf(origin), handler);
}

/** Stops answering `origin`: its requests are unrouted again (they throw). */
export function unroute(origin: string): void {
  current?.routes.delete(originOf(origin));
}

/** The requests the current test sent through the router (empty when nothing was routed). */
export function outboundRequests(): readonly RoutedRequest[] {
  return current && globalThis.fetch === current.fetch ? current.requests : [];
}
