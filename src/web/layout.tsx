/**
 * The one layout of every page: a skip link, the header with the places a person can go (what they
 * see depends on who they are), the page's content in <main>, and a footer. Signed-in pages carry
 * the idle-timeout warning (public/assets/session.js): five minutes before the session would end for
 * inactivity it offers to stay signed in.
 */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { PageState } from "../context";
import { CsrfField } from "./components";
import type { PageUser } from "./page";

export const SITE_NAME = "Gatehouse";

interface LayoutProps {
  title: string;
  state: PageState;
  user: PageUser | null;
  description?: string;
  scripts: readonly string[];
  head?: Child;
  bodyData?: Record<string, string>;
  idleSeconds: number;
  path: string;
  children?: Child;
}

function NavLink(props: { href: string; path: string; children: Child }) {
  const current = props.path === props.href || (props.href !== "/" && props.path.startsWith(`${props.href}/`));
  return (
    <a href={props.href} aria-current={current ? "page" : undefined}>
      {props.children}
    </a>
  );
}

export function Layout(props: LayoutProps) {
  const { user, state } = props;
  const data = Object.fromEntries(Object.entries(props.bodyData ?? {}).map(([k, v]) => [`data-${k}`, v]));
  return (
    <>
      {/* Unescaped: as a text child it would arrive as "&lt;!doctype html&gt;" and put browsers in quirks mode. */}
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width,initial-scale=1" />
          <meta name="referrer" content="strict-origin-when-cross-origin" />
          <meta name="csrf-token" content={state.csrfToken} />
          <meta name="theme-color" content="#1d3557" />
          {props.description ? <meta name="description" content={props.description} /> : null}
          <title>{`${props.title} · ${SITE_NAME}`}</title>
          <link rel="stylesheet" href="/assets/app.css" />
          <link rel="icon" href="/assets/icon.svg" type="image/svg+xml" />
          {props.head}
          {user ? <script nonce={state.nonce} src="/assets/session.js" defer /> : null}
          {props.scripts.map((src) => (
            <script nonce={state.nonce} src={src} defer />
          ))}
        </head>
        <body {...data} {...(user ? { "data-idle-seconds": String(props.idleSeconds) } : {})}>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="site">
            <nav aria-label="Main">
              <a class="brand" href="/">
                {SITE_NAME}
              </a>
              <NavLink href="/" path={props.path}>
                Events
              </NavLink>
              {user ? (
                <NavLink href="/feed" path={props.path}>
                  Feed
                </NavLink>
              ) : null}
              {user ? (
                <NavLink href="/me/tickets" path={props.path}>
                  My tickets
                </NavLink>
              ) : null}
              {user?.roles.includes("host") ? (
                <NavLink href="/host" path={props.path}>
                  Host
                </NavLink>
              ) : null}
              <span class="spacer" />
              {user ? (
                <form method="post" action="/logout" class="inline">
                  <CsrfField token={state.csrfToken} />
                  <span class="who">{user.name || user.email}</span>
                  <button type="submit" class="link">
                    Sign out
                  </button>
                </form>
              ) : (
                <>
                  <NavLink href="/login" path={props.path}>
                    Sign in
                  </NavLink>
                  <a class="button small" href="/register">
                    Create account
                  </a>
                </>
              )}
            </nav>
          </header>
          <main id="main" tabindex={-1}>
            {props.children}
          </main>
          {user ? (
            <dialog id="idle-warning" aria-labelledby="idle-title">
              <h2 id="idle-title">Still there?</h2>
              <p>
                For your security you will be signed out in <strong id="idle-left">5 minutes</strong> unless you
                continue.
              </p>
              <div class="actions">
                <button type="button" id="idle-stay">
                  Stay signed in
                </button>
                <form method="post" action="/logout" class="inline">
                  <CsrfField token={state.csrfToken} />
                  <button type="submit" class="secondary">
                    Sign out now
                  </button>
                </form>
              </div>
            </dialog>
          ) : null}
          <footer class="site">
            <p>
              {SITE_NAME} · <a href="/docs">API</a>
            </p>
          </footer>
        </body>
      </html>
    </>
  );
}
