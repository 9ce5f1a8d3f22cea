/** Media settings (signing keys, upload limit) and the byte route's HTTP helpers, unit by unit. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ConfigError, getConfig } from "../../../src/config";
import { LIMITS } from "../../../src/config/limits";
import { noneMatch, parseRange, rangeApplies } from "../../../src/features/media/serve";
import { readCapped } from "../../../src/features/media/upload-body";
import { DomainError } from "../../../src/lib/errors";
import { call } from "../../helpers";

function configKeys(vars: Record<string, unknown>): string[] {
  try {
    getConfig({ ...vars });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.keys;
    throw error;
  }
}

describe("media configuration", () => {
  const { MEDIA_SIGNING_KEYS: _omitted, ...base } = env as unknown as Record<string, unknown>;
  const valid = JSON.stringify([{ kid: "2026-11", secret: "media-secret-0123456789abcdef0123456789" }]);

  it("MEDIA_SIGNING_KEYS is required in production (fails closed, naming the key)", () => {
    expect(configKeys({ ...base, ENVIRONMENT: "production" })).toContain("MEDIA_SIGNING_KEYS");
    expect(configKeys({ ...base, ENVIRONMENT: "production", MEDIA_SIGNING_KEYS: "" })).toContain("MEDIA_SIGNING_KEYS");
    expect(configKeys({ ...base, ENVIRONMENT: "production", MEDIA_SIGNING_KEYS: valid })).not.toContain(
      "MEDIA_SIGNING_KEYS",
    );
  });

  it.each([
    ["not JSON", "media-secret"],
    ["short secret", JSON.stringify([{ kid: "a", secret: "short" }])],
    ["bad kid", JSON.stringify([{ kid: "a b", secret: "media-secret-0123456789abcdef0123456789" }])],
    ["empty list", "[]"],
  ])("a malformed MEDIA_SIGNING_KEYS (%s) is refused", (_name, raw) => {
    expect(configKeys({ ...base, ENVIRONMENT: "production", MEDIA_SIGNING_KEYS: raw })).toContain("MEDIA_SIGNING_KEYS");
  });

  it("development generates a signing key that stays stable for the isolate", () => {
    const a = getConfig({ ...base, ENVIRONMENT: "development" }).mediaSigningKeys;
    const b = getConfig({ ...base, ENVIRONMENT: "development" }).mediaSigningKeys;
    expect(a[0].secret.length).toBeGreaterThanOrEqual(32);
    expect(b).toEqual(a);
  });

  it("MEDIA_MAX_UPLOAD_BYTES defaults to 10 MB and may not exceed the ceiling", () => {
    expect(getConfig({ ...base, ENVIRONMENT: "development" }).mediaMaxUploadBytes).toBe(10 * 1024 * 1024);
    expect(getConfig({ ...base, ENVIRONMENT: "development", MEDIA_MAX_UPLOAD_BYTES: "2048" }).mediaMaxUploadBytes).toBe(
      2048,
    );
    const over = String(LIMITS.mediaUploadCeilingBytes + 1);
    expect(configKeys({ ...base, ENVIRONMENT: "development", MEDIA_MAX_UPLOAD_BYTES: over })).toContain(
      "MEDIA_MAX_UPLOAD_BYTES",
    );
  });
});

describe("byte route helpers", () => {
  it("parseRange follows RFC 9110 §14 for single ranges", () => {
    expect(parseRange(null, 100)).toEqual({ kind: "full" });
    expect(parseRange("bytes=0-0", 100)).toEqual({ kind: "partial", offset: 0, length: 1 });
    expect(parseRange("bytes=90-200", 100)).toEqual({ kind: "partial", offset: 90, length: 10 });
    expect(parseRange("bytes=-200", 100)).toEqual({ kind: "partial", offset: 0, length: 100 });
    expect(parseRange("bytes=99-", 100)).toEqual({ kind: "partial", offset: 99, length: 1 });
    expect(parseRange("bytes=100-", 100)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-0", 100)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=5-4", 100)).toEqual({ kind: "full" });
    expect(parseRange("bytes=-", 100)).toEqual({ kind: "full" });
    expect(parseRange("bytes=1-2,3-4", 100)).toEqual({ kind: "full" });
  });

  it("noneMatch compares weakly and understands lists and *; If-Range needs the exact strong tag", () => {
    expect(noneMatch('W/"abc"', '"abc"')).toBe(true);
    expect(noneMatch('"x", "abc"', '"abc"')).toBe(true);
    expect(noneMatch('"abcd"', '"abc"')).toBe(false);
    expect(noneMatch(undefined, '"abc"')).toBe(false);
    expect(rangeApplies(undefined, '"abc"')).toBe(true);
    expect(rangeApplies('W/"abc"', '"abc"')).toBe(false);
    expect(rangeApplies("Wed, 21 Oct 2026 07:28:00 GMT", '"abc"')).toBe(false);
  });

  it("readCapped stops pulling an endless stream as soon as it passes the limit", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1000;
        controller.enqueue(new Uint8Array(1000));
      },
    });
    const error = await readCapped(endless, 10_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe("payload-too-large");
    expect(pulled).toBeLessThanOrEqual(12_000);
    const exact = new Response(new Uint8Array(10_000)).body;
    expect((await readCapped(exact, 10_000)).length).toBe(10_000);
  });

  it("the OpenAPI document lists the media routes and the upload's block-flood answer", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses?: Record<string, { description: string }> }>>;
    };
    expect(Object.keys(doc.paths["/api/v1/media"] ?? {})).toContain("post");
    expect(doc.paths["/api/v1/media"]?.post?.responses?.["422"]?.description).toContain("too-many-segments");
    expect(Object.keys(doc.paths["/api/v1/media/{id}"] ?? {}).sort()).toEqual(["delete", "get"]);
    expect(Object.keys(doc.paths["/media/{id}"] ?? {})).toContain("get");
  });
});
