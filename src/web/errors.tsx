/**
 * Errors on pages are pages: a person who follows a dead link or hits a limit sees where they are and
 * what to do next, never a problem document. The app's notFound and onError hand page requests here
 * (`isPageRequest`); the API keeps answering RFC 9457 problems.
 */
import type { AppContext } from "../context";
import { problemStatus } from "../http/problem";
import { DomainError } from "../lib/errors";
import { render } from "./page";

/** A browser asking for a page: anything outside the API's own paths that accepts HTML. */
export function isPageRequest(c: AppContext): boolean {
  if (c.get("page")) return true;
  const path = c.req.path;
  if (/^\/(api|media|dev|health|openapi\.json|docs|auth)(\/|$)/.test(path)) return false;
  return (c.req.header("Accept") ?? "").includes("text/html");
}

const COPY: Partial<Record<number, { title: string; message: string }>> = {
  400: { title: "Something is not right", message: "We could not understand that request." },
  401: { title: "Please sign in", message: "Sign in to see this page." },
  403: { title: "Not allowed", message: "You do not have access to this page." },
  404: {
    title: "Page not found",
    message: "The page you are looking for does not exist or has moved.",
  },
  405: { title: "Not allowed", message: "That action is not available here." },
  409: { title: "That did not work", message: "Things changed while you were looking. Reload and try again." },
  413: { title: "Too large", message: "What you sent is larger than we accept." },
  429: { title: "Slow down a little", message: "Too many attempts. Wait a moment and try again." },
  503: { title: "Back in a moment", message: "This part of Gatehouse is briefly unavailable. Try again shortly." },
};

export async function errorPage(
  c: AppContext,
  status: number,
  detail?: string,
  options: { retryAfter?: number } = {},
): Promise<Response> {
  // A refusal without words of its own (a 422, say) keeps its status: only a server fault is a 500.
  const refusal = status >= 400 && status < 500;
  const copy =
    COPY[status] ??
    (refusal
      ? { title: "That did not work", message: "We could not do that. Go back and check what you sent." }
      : {
          title: "Something went wrong",
          message: "We could not finish that. It is not your fault; please try again.",
        });
  if (options.retryAfter) c.header("Retry-After", String(options.retryAfter));
  const requestId = c.get("requestId");
  return render(c, {
    title: copy.title,
    status: (status in COPY || refusal || status === 500 ? status : 500) as 400,
    body: (
      <section class="card narrow error-page">
        <p class="status-code" aria-hidden="true">
          {status}
        </p>
        <h1>{copy.title}</h1>
        <p>{detail ?? copy.message}</p>
        {options.retryAfter ? <p>Try again in about {options.retryAfter} seconds.</p> : null}
        <p class="actions">
          <a class="button" href="/">
            Go to events
          </a>
          {status === 401 ? (
            <a class="button secondary" href={`/login?next=${encodeURIComponent(c.req.path)}`}>
              Sign in
            </a>
          ) : null}
        </p>
        {status >= 500 ? <p class="muted small">Reference: {requestId}</p> : null}
      </section>
    ),
  });
}

export function notFoundPage(c: AppContext): Promise<Response> {
  return errorPage(c, 404);
}

/** A domain error on a page: a signed-out GET goes to sign-in and back; the rest get their page. */
export function domainErrorPage(c: AppContext, error: DomainError): Promise<Response> | Response {
  const status = problemStatus(error.code);
  if (status === 401 && c.req.method === "GET") {
    return c.redirect(`/login?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`, 303);
  }
  const retryAfter = typeof error.extensions.retryAfter === "number" ? error.extensions.retryAfter : undefined;
  // Details of domain errors are written for people; internal ones are not shown.
  return errorPage(c, status, status >= 500 ? undefined : error.detail, { retryAfter });
}

export function pageErrorResponse(c: AppContext, error: unknown): Promise<Response> | Response {
  if (error instanceof DomainError) return domainErrorPage(c, error);
  return errorPage(c, 500);
}
