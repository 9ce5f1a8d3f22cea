/**
 * The Content-Security-Policy of every page: strict, nonce-based (no 'unsafe-inline', no host
 * allowlist for scripts). A script runs only if it carries this response's nonce; with
 * 'strict-dynamic' a script we trusted may load its own modules (the scanner's decoder). Styles come
 * from our stylesheet or a nonce'd block; images from us, data: (QR codes) and blob: (camera frames).
 * Forms post back here, or to Stripe Checkout, which a paid order redirects to, or to Stripe's
 * customer portal, where the billing page's Manage button redirects.
 */
export const STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com";
export const STRIPE_PORTAL_ORIGIN = "https://billing.stripe.com";

export function pageCsp(nonce: string, options: { wasm?: boolean } = {}): string {
  // 'wasm-unsafe-eval' lets WebAssembly compile (nothing else: no eval, no Function): only the scanner
  // asks for it, for its QR decoder where the browser has no BarcodeDetector.
  const wasm = options.wasm ? " 'wasm-unsafe-eval'" : "";
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}' 'strict-dynamic'${wasm}`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "media-src 'self' blob:",
    `form-action 'self' ${STRIPE_CHECKOUT_ORIGIN} ${STRIPE_PORTAL_ORIGIN}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join("; ");
}
