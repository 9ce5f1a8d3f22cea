import { describe, expect, it } from "vitest";
import { sanitizeDescription } from "../../src/lib/sanitize";

describe("sanitizeDescription", () => {
  it("keeps the allowlisted formatting tags", () => {
    const html =
      "<p><b>Bold</b> <i>it</i> <em>em</em> <strong>st</strong><br></p><ul><li>a</li></ul><ol><li>b</li></ol>";
    expect(sanitizeDescription(html)).toBe(html);
  });

  it("keeps http, https and mailto links and marks them nofollow noopener ugc", () => {
    expect(sanitizeDescription('<a href="https://example.com/x">x</a>')).toBe(
      '<a href="https://example.com/x" rel="nofollow noopener ugc">x</a>',
    );
    expect(sanitizeDescription('<a href="mailto:host@example.com">m</a>')).toContain('href="mailto:host@example.com"');
    expect(sanitizeDescription('<a href="http://example.com" rel="opener" target="_blank">y</a>')).toBe(
      '<a href="http://example.com" rel="nofollow noopener ugc">y</a>',
    );
  });

  it.each([
    ['<a href="javascript:alert(1)">x</a>', "<a>x</a>"],
    ['<a href="JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"],
    ['<a href="data:text/html,<script>">x</a>', "<a>x</a>"],
    ['<a href="/relative">x</a>', "<a>x</a>"],
    ["<script>alert(1)</script>hi", "hi"],
    ['<img src=x onerror="alert(1)">', ""],
    ['<p onclick="alert(1)">p</p>', "<p>p</p>"],
    ['<iframe src="https://evil.example"></iframe>ok', "ok"],
    ["<style>body{}</style>ok", "ok"],
    ['<svg onload="alert(1)"></svg>', ""],
    ['<div style="x">d</div>', "d"],
  ])("neutralises %s", (input, expected) => {
    expect(sanitizeDescription(input)).toBe(expected);
  });
});
