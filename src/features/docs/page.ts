/**
 * The /docs page and its Content-Security-Policy. The one inline script (starting Swagger UI) runs by
 * a nonce minted per response; the two CDN files are allowed by their exact URLs and checked by SRI.
 * No 'unsafe-inline', no host-wide source: an injected script tag finds nothing it may load or run.
 */
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { SWAGGER_UI_SCRIPT, SWAGGER_UI_STYLE } from "./assets";

export function docsCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}' ${SWAGGER_UI_SCRIPT.url}`,
    // Swagger UI styles elements through the CSSOM (React style props), which CSP does not govern.
    `style-src ${SWAGGER_UI_STYLE.url}`,
    // The stylesheet's icons are data: URIs.
    "img-src 'self' data:",
    // /openapi.json and "Try it out" requests, same origin only.
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Starts Swagger UI on /openapi.json; validatorUrl null keeps the spec from going to validator.swagger.io. */
const INIT_SCRIPT = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null });
});`;

export function docsPage(nonce: string): HtmlEscapedString | Promise<HtmlEscapedString> {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Gatehouse API</title>
    <link rel="stylesheet" href="${SWAGGER_UI_STYLE.url}" integrity="${SWAGGER_UI_STYLE.integrity}" crossorigin="anonymous" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${SWAGGER_UI_SCRIPT.url}" integrity="${SWAGGER_UI_SCRIPT.integrity}" crossorigin="anonymous"></script>
    <script nonce="${nonce}">${raw(INIT_SCRIPT)}</script>
  </body>
</html>`;
}
