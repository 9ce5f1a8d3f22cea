import { describe, expect, it } from "vitest";
import { normalizeHandle, RESERVED_HANDLES, validateHandle } from "../../src/lib/handle";

function keyOf(input: string): string | null {
  const result = validateHandle(input);
  return result.ok ? result.key : null;
}

function reasonOf(input: string): string | null {
  const result = validateHandle(input);
  return result.ok ? null : result.reason;
}

describe("normalizeHandle", () => {
  it("applies NFKC, then lowercases, then trims", () => {
    expect(normalizeHandle("  John.Doe  ")).toBe("john.doe");
    expect(normalizeHandle("ＪＯＨＮ")).toBe("john");
    expect(normalizeHandle("\u3000john\u3000")).toBe("john"); // the ideographic space is NFKC's " "
    expect(normalizeHandle("𝐣𝐨𝐡𝐧")).toBe("john");
    expect(normalizeHandle("\u212Aelvin")).toBe("kelvin"); // KELVIN SIGN
    expect(normalizeHandle("\uFB01sh")).toBe("fish"); // the ﬁ ligature
  });
});

describe("validateHandle", () => {
  it("accepts a plain handle and gives the display handle equal to its unique key", () => {
    expect(validateHandle("dj_nova.live")).toEqual({ ok: true, handle: "dj_nova.live", key: "dj_nova.live" });
    expect(validateHandle("The_Band")).toEqual({ ok: true, handle: "the_band", key: "the_band" });
  });

  it("holds the length to 3–30 characters at both boundaries", () => {
    expect(reasonOf("")).toBe("too-short");
    expect(reasonOf("ab")).toBe("too-short");
    expect(keyOf("abc")).toBe("abc");
    expect(keyOf("a".repeat(30))).toBe("a".repeat(30));
    expect(reasonOf("a".repeat(31))).toBe("too-long");
    expect(reasonOf("a".repeat(10_000))).toBe("too-long");
  });

  it("measures length after normalisation, so whitespace padding and compatibility forms count as they end up", () => {
    expect(keyOf(`  ${"a".repeat(30)}  `)).toBe("a".repeat(30));
    expect(reasonOf("  ab  ")).toBe("too-short");
    expect(keyOf("ｊｏｈ")).toBe("joh");
    // 𝐚 is two UTF-16 units but one handle character.
    expect(keyOf("𝐚".repeat(30))).toBe("a".repeat(30));
    expect(reasonOf("𝐚".repeat(31))).toBe("too-long");
    // U+FB03 (ﬃ) is one character that NFKC writes as three.
    expect(keyOf("\uFB03")).toBe("ffi");
    expect(reasonOf(`${"a".repeat(28)}\uFB03`)).toBe("too-long");
  });

  it("allows only [a-z0-9_.] after normalisation", () => {
    for (const input of [
      "john-doe",
      "john doe",
      "john@doe",
      "john/doe",
      "jöhn",
      "名前です",
      "john!",
      "j\u200Bohn",
      "john\u0000",
    ]) {
      expect(reasonOf(input), JSON.stringify(input)).toBe("invalid-characters");
    }
    expect(keyOf("user_2024")).toBe("user_2024");
    expect(keyOf("___")).toBe("___");
  });

  it("refuses a leading, trailing or double dot, but not single dots inside", () => {
    expect(reasonOf(".john")).toBe("dots");
    expect(reasonOf("john.")).toBe("dots");
    expect(reasonOf("jo..hn")).toBe("dots");
    expect(reasonOf("...")).toBe("dots");
    expect(reasonOf("john．")).toBe("dots"); // a full-width full stop is a dot after NFKC
    expect(keyOf("j.o.h.n")).toBe("j.o.h.n");
    expect(keyOf("_john_")).toBe("_john_");
  });

  describe("reserved handles", () => {
    it("includes the route, brand, staff and mail role words", () => {
      for (const word of [
        "admin",
        "administrator",
        "api",
        "www",
        "support",
        "help",
        "gatehouse",
        "scan",
        "host",
        "hosts",
        "login",
        "logout",
        "register",
        "feed",
        "me",
        "settings",
        "about",
        "terms",
        "privacy",
        "security",
        "staff",
        "mod",
        "moderator",
        "root",
        "system",
        "null",
        "undefined",
        "e",
        "p",
        "l",
        "assets",
        "media",
        "dev",
        "docs",
        "openapi",
        "health",
        "status",
        "billing",
        "payments",
        "events",
        "tickets",
        "official",
        "team",
        "abuse",
        "postmaster",
        "webmaster",
        "noreply",
        "mail",
        "email",
      ]) {
        expect(RESERVED_HANDLES, word).toContain(word);
      }
    });

    it("refuses each reserved word of claimable length, in any case or compatibility spelling", () => {
      for (const word of RESERVED_HANDLES.filter((w) => w.length >= 3)) {
        expect(reasonOf(word), word).toBe("reserved");
        expect(reasonOf(word.toUpperCase()), word).toBe("reserved");
      }
      expect(reasonOf("ＡＤＭＩＮ")).toBe("reserved");
      expect(reasonOf("ａｄｍｉｎ")).toBe("reserved");
      expect(reasonOf("𝐀𝐝𝐦𝐢𝐧")).toBe("reserved");
      expect(reasonOf(" Gatehouse ")).toBe("reserved");
    });

    it("refuses reserved words padded or split with dots and underscores, the short ones included", () => {
      for (const input of [
        "g.a.t.e.h.o.u.s.e",
        "admin_",
        "_admin",
        "ad_min",
        "a.d.m.i.n",
        "api_",
        "_e_",
        "p__",
        "m.e",
        "no_reply",
        "verify_email",
      ]) {
        expect(reasonOf(input), input).toBe("reserved");
      }
    });

    it("does not refuse handles that merely contain a reserved word", () => {
      for (const input of ["admins", "the_admin_team", "apiary", "hostess", "emailme", "mediaeval", "team.nova"]) {
        expect(keyOf(input), input).toBe(input);
      }
    });

    it("is exported as frozen data", () => {
      expect(Object.isFrozen(RESERVED_HANDLES)).toBe(true);
      expect(new Set(RESERVED_HANDLES).size).toBe(RESERVED_HANDLES.length);
      for (const word of RESERVED_HANDLES) expect(word, word).toMatch(/^[a-z0-9]+$/);
    });
  });

  describe("look-alikes collide or are refused", () => {
    it("gives compatibility spellings the same key as the plain spelling", () => {
      for (const input of ["john", "JOHN", "John", "ｊｏｈｎ", "ＪＯＨＮ", "𝐣𝐨𝐡𝐧", "𝔧𝔬𝔥𝔫", " john "]) {
        expect(keyOf(input), input).toBe("john");
      }
      expect(keyOf("\u212Aate")).toBe(keyOf("kate")); // KELVIN SIGN
      expect(keyOf("\u017Fam")).toBe(keyOf("sam")); // LATIN SMALL LETTER LONG S
      expect(keyOf("user²")).toBe(keyOf("user2"));
      expect(keyOf("ⓙⓞⓗⓝ")).toBe(keyOf("john"));
    });

    it("refuses letters from other scripts that only look like Latin ones", () => {
      for (const input of [
        "\u0430dmin", // Cyrillic а
        "j\u043Ehn", // Cyrillic о
        "j\u03BFhn", // Greek ο
        "\u0440aul", // Cyrillic р
        "k\u0131rk", // Turkish dotless ı
        "\u0130stanbul", // Turkish İ, which lowercases to i + combining dot
        "jo\u0127n", // ħ
        "john\u0301", // combining acute
      ]) {
        expect(reasonOf(input), input).toBe("invalid-characters");
      }
    });
  });

  it("refuses a value that is not a string rather than throwing", () => {
    expect(reasonOf(undefined as unknown as string)).toBe("invalid-characters");
  });
});
