/**
 * Swagger UI for /docs, pinned: an exact version and the SHA-384 of each file, checked by the browser
 * (Subresource Integrity) before it runs a byte of it. A CDN compromise or a new release then fails
 * closed: the page does not load, nothing else runs on the API's origin.
 *
 * Why jsDelivr with SRI rather than the files served by the Worker: the two files are 1.9 MB
 * (swagger-ui-bundle.js 1.73 MB, swagger-ui.css 0.19 MB), about 0.5 MB compressed, which would double
 * the compressed Worker every isolate loads, for a page developers open now and then. The hashes are
 * of the npm package swagger-ui-dist at this version (jsDelivr serves its files byte for byte);
 * `node scripts/swagger-ui-sri.mjs` recomputes them from the registry's tarball and checks these.
 */

export const SWAGGER_UI_VERSION = "5.35.0";

const BASE = `https://cdn.jsdelivr.net/npm/swagger-ui-dist@${SWAGGER_UI_VERSION}`;

export interface PinnedAsset {
  url: string;
  /** SRI metadata (W3C Subresource Integrity §3.5): `sha384-` and the base64 digest. */
  integrity: string;
}

export const SWAGGER_UI_SCRIPT: PinnedAsset = {
  url: `${BASE}/swagger-ui-bundle.js`,
  integrity: "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
};

export const SWAGGER_UI_STYLE: PinnedAsset = {
  url: `${BASE}/swagger-ui.css`,
  integrity: "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
};
