/**
 * Rendering a page: the per-response nonce and CSRF token (PageState), the strict CSP, caching and
 * permissions headers, and the layout around the page's own content. Every page of src/web/pages
 * answers through `render`, so no page can forget a header.
 */
import type { Child } from "hono/jsx";
import type { AppContext, PageState } from "../context";
import { ensureCsrfToken } from "../http/csrf";
import { randomToken } from "../lib/crypto";
import { pageCsp } from "./csp";
import { Layout } from "./layout";

/** The signed-in person, as a page shows them (from the session the auth hook resolved). */
export interface PageUser {
  id: string;
  name: string;
  email: string;
  roles: readonly string[];
}

export function pageUser(c: AppContext): PageUser | null {
  const principal = c.get("principal");
  if (principal?.kind !== "user") return null;
  const claims = principal.claims ?? {};
  return {
    id: principal.id,
    name: typeof claims.name === "string" ? claims.name : "",
    email: typeof claims.email === "string" ? claims.email : "",
    roles: principal.roles,
  };
}

/** The nonce and CSRF token of this response, made once per request. */
export async function pageState(c: AppContext): Promise<PageState> {
  const existing = c.get("page");
  if (existing) return existing;
  const state = { nonce: randomToken(16), csrfToken: await ensureCsrfToken(c) };
  c.set("page", state);
  return state;
}

export interface RenderOptions {
  title: string;
  body: Child;
  status?: 200 | 400 | 401 | 403 | 404 | 409 | 410 | 422 | 429 | 500 | 503;
  /** Page scripts under /assets/ (each gets the nonce). */
  scripts?: readonly string[];
  /** Meta description (also the Open Graph description). */
  description?: string;
  /** Only the scanner app may use the camera. */
  camera?: boolean;
  /** WebAssembly may compile ('wasm-unsafe-eval'): only the scanner app, for its QR decoder. */
  wasm?: boolean;
  /** Extra <head> content (manifest link, Open Graph tags). */
  head?: Child;
  /** A page anyone may see the same way: a short private cache instead of no-store. */
  publicPage?: boolean;
  /** Attributes for <body> (data-* for the page's script). */
  bodyData?: Record<string, string>;
}

export async function render(c: AppContext, options: RenderOptions): Promise<Response> {
  const state = await pageState(c);
  const user = pageUser(c);
  c.header("Content-Security-Policy", pageCsp(state.nonce, { wasm: options.wasm }));
  c.header("Permissions-Policy", `camera=(${options.camera ? "self" : ""}), microphone=(), geolocation=(self)`);
  // Every page carries a per-response nonce and often a person's data: never stored by a shared cache.
  c.header("Cache-Control", user || !options.publicPage ? "no-store" : "private, max-age=0, must-revalidate");
  if (user) c.header("Vary", "Cookie");
  return c.html(
    <Layout
      title={options.title}
      state={state}
      user={user}
      description={options.description}
      scripts={options.scripts ?? []}
      head={options.head}
      bodyData={options.bodyData}
      idleSeconds={c.get("config").sessionIdleSeconds}
      path={c.req.path}
    >
      {options.body}
    </Layout>,
    options.status ?? 200,
  );
}

/** A 303 to a page, for a form that succeeded (Post/Redirect/Get). */
export function seeOther(c: AppContext, location: string): Response {
  c.header("Cache-Control", "no-store");
  return c.redirect(location, 303);
}
