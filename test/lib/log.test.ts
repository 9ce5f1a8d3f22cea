import { afterEach, describe, expect, it, vi } from "vitest";
import { log, REDACTED, redact, redactUrl } from "../../src/lib/log";

afterEach(() => vi.restoreAllMocks());

describe("redaction", () => {
  it("replaces credential-like keys at any depth", () => {
    expect(
      redact({
        authorization: "Bearer x",
        headers: { Cookie: "a=b", "X-Api-Key": "k" },
        body: { password: "p", newPassword: "q", refreshToken: "r", code: "123456", name: "Ada" },
        list: [{ client_secret: "s" }],
      }),
    ).toEqual({
      authorization: REDACTED,
      headers: { Cookie: REDACTED, "X-Api-Key": REDACTED },
      body: { password: REDACTED, newPassword: REDACTED, refreshToken: REDACTED, code: REDACTED, name: "Ada" },
      list: [{ client_secret: REDACTED }],
    });
  });

  it("redacts sensitive query parameters", () => {
    expect(redactUrl("/auth/verify?token=abc&next=%2Fhome")).toBe("/auth/verify?token=%5Bredacted%5D&next=%2Fhome");
    expect(redactUrl("/media/1?exp=1&sig=zz")).toBe("/media/1?exp=1&sig=%5Bredacted%5D");
    expect(redactUrl("/plain")).toBe("/plain");
  });

  it("log() writes one JSON line with redaction applied", () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((l: unknown) => void lines.push(String(l)));
    log("info", "hello", { user: "u1", password: "hunter2" });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: "info",
      msg: "hello",
      user: "u1",
      password: REDACTED,
    });
  });
});
