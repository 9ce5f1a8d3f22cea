import { describe, expect, it } from "vitest";
import { checkSafeUrl, hostReason, MAX_URL_LENGTH } from "../../src/lib/safe-url";
import { UNSAFE_URLS as refused } from "../support/unsafe-urls";

const accepted: readonly (readonly [string, string])[] = [
  // [input, the href the caller stores]
  ["https://example.com", "https://example.com/"],
  ["http://example.com/", "http://example.com/"],
  ["https://EXAMPLE.com/Path?Q=1#frag", "https://example.com/Path?Q=1#frag"],
  ["https://example.com:8443/a/b/c?x=1&y=2", "https://example.com:8443/a/b/c?x=1&y=2"],
  ["https://example.com:443/", "https://example.com/"],
  ["https://sub.domain.example.co.uk/", "https://sub.domain.example.co.uk/"],
  ["https://example.com./", "https://example.com./"],
  ["https://bandcamp.com/album/x?utm_source=bio", "https://bandcamp.com/album/x?utm_source=bio"],
  ["https://münchen.de/", "https://xn--mnchen-3ya.de/"],
  ["https://日本語.jp/パス", "https://xn--wgv71a119e.jp/%E3%83%91%E3%82%B9"],
  ["https://ｅｘａｍｐｌｅ．ｃｏｍ/", "https://example.com/"],
  ["https://my_band.example.com/", "https://my_band.example.com/"],
  ["https://localhost.example.com/", "https://localhost.example.com/"],
  ["https://internal.example.com/", "https://internal.example.com/"],
  ["https://nip.io.example.com/", "https://nip.io.example.com/"],
  ["http://8.8.8.8/", "http://8.8.8.8/"],
  ["http://1.1.1.1:8080/x", "http://1.1.1.1:8080/x"],
  ["http://134744072/", "http://8.8.8.8/"],
  ["http://100.63.255.255/", "http://100.63.255.255/"],
  ["http://100.128.0.1/", "http://100.128.0.1/"],
  ["http://172.15.255.255/", "http://172.15.255.255/"],
  ["http://172.32.0.1/", "http://172.32.0.1/"],
  ["http://169.253.255.255/", "http://169.253.255.255/"],
  ["http://223.255.255.255/", "http://223.255.255.255/"],
  ["http://[2606:4700::1111]/", "http://[2606:4700::1111]/"],
  ["https://[2606:4700:4700::1111]:8443/dns", "https://[2606:4700:4700::1111]:8443/dns"],
  ["http://[2001:4860:4860::8888]/", "http://[2001:4860:4860::8888]/"],
  ["http://[::ffff:8.8.8.8]/", "http://[::ffff:808:808]/"],
  ["http://[64:ff9b::8.8.8.8]/", "http://[64:ff9b::808:808]/"],
  ["http://[2002:808:808::1]/", "http://[2002:808:808::1]/"],
  ["https://example.com/a%20b", "https://example.com/a%20b"],
  ["https://example.com/?next=http://127.0.0.1/", "https://example.com/?next=http://127.0.0.1/"],
  ["https://example.com/#@127.0.0.1", "https://example.com/#@127.0.0.1"],
];

describe("checkSafeUrl", () => {
  it(`refuses ${refused.length} spellings of internal, unsafe or malformed URLs, each for its reason`, () => {
    expect(refused.length).toBeGreaterThanOrEqual(80);
    const wrong = refused
      .map(([input, reason]) => ({ input, reason, got: checkSafeUrl(input) }))
      .filter(({ reason, got }) => got.ok || got.reason !== reason)
      .map(
        ({ input, reason, got }) =>
          `${JSON.stringify(input)}: want ${reason}, got ${got.ok ? got.url.href : got.reason}`,
      );
    expect(wrong).toEqual([]);
  });

  it("accepts public http(s) URLs (IDN, ports, paths, queries, public IPv4 and IPv6) and returns the parsed form", () => {
    const wrong = accepted
      .map(([input, href]) => ({ input, href, got: checkSafeUrl(input) }))
      .filter(({ href, got }) => !got.ok || got.url.href !== href)
      .map(
        ({ input, href, got }) => `${JSON.stringify(input)}: want ${href}, got ${got.ok ? got.url.href : got.reason}`,
      );
    expect(wrong).toEqual([]);
  });

  it("relies on the URL parser to canonicalise IPv4 spellings into dotted quads, and it does", () => {
    for (const spelling of [
      "2130706433",
      "017700000001",
      "0177.0.0.1",
      "0x7f.1",
      "127.1",
      "0x7f000001",
      "127.0.0.%31",
    ]) {
      expect(new URL(`http://${spelling}/`).hostname, spelling).toBe("127.0.0.1");
    }
    expect(new URL("http://１２７．０．０．１/").hostname).toBe("127.0.0.1");
    expect(new URL("http://[::ffff:127.0.0.1]/").hostname).toBe("[::ffff:7f00:1]");
    expect(new URL("http://[0:0:0:0:0:0:0:1]/").hostname).toBe("[::1]");
    expect(new URL("http://ＬＯＣＡＬＨＯＳＴ/").hostname).toBe("localhost");
    expect(new URL("http://münchen.de/").hostname).toBe("xn--mnchen-3ya.de");
  });

  it("accepts exactly 2,048 characters and refuses 2,049", () => {
    const base = "https://example.com/";
    const atLimit = base + "a".repeat(MAX_URL_LENGTH - base.length);
    expect(atLimit).toHaveLength(2048);
    expect(checkSafeUrl(atLimit).ok).toBe(true);
    expect(checkSafeUrl(`${atLimit}a`)).toEqual({ ok: false, reason: "too-long" });
  });

  it("measures the serialised URL too, since percent-encoding can lengthen it past the limit", () => {
    const input = `https://example.com/${"é".repeat(1000)}`;
    expect(input.length).toBeLessThanOrEqual(MAX_URL_LENGTH);
    expect(checkSafeUrl(input)).toEqual({ ok: false, reason: "too-long" });
  });

  it("honours a smaller maxLength", () => {
    expect(checkSafeUrl("https://example.com/abc", { maxLength: 23 }).ok).toBe(true);
    expect(checkSafeUrl("https://example.com/abcd", { maxLength: 23 })).toEqual({ ok: false, reason: "too-long" });
  });

  it("refuses a value that is not a string as invalid rather than throwing", () => {
    expect(checkSafeUrl(undefined as unknown as string)).toEqual({ ok: false, reason: "invalid" });
    expect(checkSafeUrl(42 as unknown as string)).toEqual({ ok: false, reason: "invalid" });
  });

  describe("allowLoopback (development only)", () => {
    it("lets exactly 127.0.0.1, [::1] and localhost through, ports and paths included", () => {
      for (const input of [
        "http://127.0.0.1:8788/hooks",
        "http://127.1:8788/",
        "http://2130706433/",
        "http://[::1]:8788/",
        "http://localhost:8788/",
        "http://LOCALHOST/",
      ]) {
        expect(checkSafeUrl(input, { allowLoopback: true }).ok, input).toBe(true);
      }
    });

    it("still refuses the rest of 127/8, other loopback spellings and every other internal address", () => {
      for (const [input, reason] of [
        ["http://127.0.0.2/", "loopback"],
        ["http://[::ffff:127.0.0.1]/", "loopback"],
        ["http://api.localhost/", "loopback"],
        ["http://localhost./", "loopback"],
        ["http://10.0.0.1/", "private-address"],
        ["http://169.254.169.254/", "metadata"],
        ["http://user:pw@127.0.0.1/", "credentials"],
        ["file:///etc/passwd", "not-http"],
      ] as const) {
        expect(checkSafeUrl(input, { allowLoopback: true }), input).toEqual({ ok: false, reason });
      }
    });

    it("is off by default", () => {
      expect(checkSafeUrl("http://127.0.0.1:8788/")).toEqual({ ok: false, reason: "loopback" });
    });
  });
});

describe("hostReason", () => {
  it("judges the edges of each IPv4 range", () => {
    expect(hostReason("9.255.255.255")).toBeNull();
    expect(hostReason("10.0.0.0")).toBe("private-address");
    expect(hostReason("11.0.0.0")).toBeNull();
    expect(hostReason("126.255.255.255")).toBeNull();
    expect(hostReason("128.0.0.0")).toBeNull();
    expect(hostReason("198.17.255.255")).toBeNull();
    expect(hostReason("198.20.0.0")).toBeNull();
    expect(hostReason("239.255.255.255")).toBe("multicast");
    expect(hostReason("1.0.0.0")).toBeNull();
  });

  it("judges the edges of the IPv6 allow-list", () => {
    expect(hostReason("[1fff:ffff::1]")).toBe("reserved-address");
    expect(hostReason("[2000::1]")).toBeNull();
    expect(hostReason("[3ffe:ffff::1]")).toBeNull();
    expect(hostReason("[3fff:fff::1]")).toBe("reserved-address");
    expect(hostReason("[3fff:1000::1]")).toBeNull();
    expect(hostReason("[2001:200::1]")).toBeNull();
    expect(hostReason("[2001:1ff:ffff::1]")).toBe("reserved-address");
    expect(hostReason("[fbff::1]")).toBe("reserved-address");
    expect(hostReason("[fe00::1]")).toBe("reserved-address");
  });

  it("reads a trailing dotted quad in any valid IPv6 spelling, not only the parser's canonical one", () => {
    expect(hostReason("[::ffff:127.0.0.1]")).toBe("loopback");
    expect(hostReason("[::127.0.0.1]")).toBe("loopback");
    expect(hostReason("[::ffff:10.0.0.1]")).toBe("private-address");
    expect(hostReason("[64:ff9b::169.254.169.254]")).toBe("metadata");
    expect(hostReason("[2606:4700:0:0:0:0:8.8.8.8]")).toBeNull();
    expect(hostReason("[0:0:0:0:0:ffff:8.8.8.8]")).toBeNull();
  });

  it("refuses an SIIT-translated address (::ffff:0:a.b.c.d) even when it embeds a public one", () => {
    expect(hostReason("[::ffff:0:808:808]")).toBe("reserved-address");
    expect(hostReason("[::ffff:0:a00:1]")).toBe("private-address");
  });

  it("refuses a host that looks numeric but is no IPv4 address as invalid", () => {
    for (const host of ["256.0.0.1", "1.2.3.999", "example.0x1f", "example.123"]) {
      expect(hostReason(host), host).toBe("invalid");
    }
  });

  it("refuses malformed bracketed addresses as invalid", () => {
    for (const host of [
      "[1:2:3:4:5:6:7:8:9]",
      "[1::2::3]",
      "[12345::]",
      "[1:2:3:4:5:6:7]",
      "[g::1]",
      "[1:2:3:4:5:6:7::8]",
      "[1:2:3:4:5:6:7:1.2.3.4]",
      "[1:2:3:4:5:6::1.2.3.4]",
      "[::1.2.3.256]",
    ]) {
      expect(hostReason(host), host).toBe("invalid");
    }
  });
});
