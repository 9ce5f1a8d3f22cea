import { describe, expect, it } from "vitest";
import { isLoopbackUrl } from "../../src/lib/loopback";

describe("isLoopbackUrl", () => {
  it("accepts localhost, 127.0.0.0/8 and [::1], in any spelling the URL parser normalises to them", () => {
    for (const url of [
      "http://localhost:8787/dev/seed",
      "http://LOCALHOST/",
      "http://127.0.0.1:8787/",
      "http://127.255.0.9/",
      "http://127.1/",
      "http://0x7f.0.0.1/",
      "http://[::1]:8787/",
      "http://[0:0:0:0:0:0:0:1]/",
    ]) {
      expect(isLoopbackUrl(url), url).toBe(true);
    }
  });

  it("refuses every other host, look-alikes included, and what does not parse", () => {
    for (const url of [
      "https://gatehouse.events/dev/seed",
      "http://localhost.example/",
      "http://localhost.gatehouse.events/",
      "http://127.0.0.1.nip.example/",
      "http://128.0.0.1/",
      "http://10.0.0.1/",
      "http://0.0.0.0/",
      "http://[::]/",
      "http://[::2]/",
      "http://[::ffff:127.0.0.1]/",
      "not a url",
    ]) {
      expect(isLoopbackUrl(url), url).toBe(false);
    }
  });
});
