/**
 * Event descriptions: a small HTML allowlist through the `xss` library (b, i, em, strong, p, br,
 * ul, ol, li, and a[href] limited to http, https and mailto). Every link gets
 * rel="nofollow noopener ugc"; anything else is escaped or dropped.
 */
import type * as XssModule from "xss";
import xssDefault from "xss";

// xss is CommonJS: its named exports hang off the default export once bundled for workerd, while
// its typings describe them as ES named exports.
const { cssFilter, FilterXSS, safeAttrValue } = xssDefault as unknown as typeof XssModule;

const ALLOWED_SCHEMES = /^(https?:|mailto:)/i;

const filter = new FilterXSS({
  whiteList: { b: [], i: [], em: [], strong: [], p: [], br: [], ul: [], ol: [], li: [], a: ["href"] },
  stripIgnoreTag: true,
  stripIgnoreTagBody: ["script", "style", "iframe", "object", "embed", "template", "noscript"],
  onTagAttr(tag, name, value) {
    if (tag !== "a" || name !== "href") return undefined;
    const cleaned = safeAttrValue(tag, name, value, cssFilter);
    // Relative links and other schemes (javascript:, data:, ftp:) are dropped, not rewritten.
    if (!ALLOWED_SCHEMES.test(cleaned.trim())) return "";
    return `href="${cleaned}" rel="nofollow noopener ugc"`;
  },
});

export function sanitizeDescription(html: string): string {
  return filter.process(html);
}
