/**
 * The test kit's log capture: the Worker's JSON lines come back parsed with the stream that wrote
 * them, other lines as text, and the console is the console again after the test.
 */
import { describe, expect, it, vi } from "vitest";
import { log } from "../../src/lib/log";
import { captureLogs } from "./logs";

describe("captureLogs", () => {
  it("keeps each line with its stream, parsed when it is one of the Worker's JSON lines", () => {
    const logs = captureLogs();
    log("info", "sweep", { emailsPurged: 4 });
    log("warn", "stripe webhook refused", { reason: "No signatures found", signature: "t=1,v1=abc" });
    log("error", "email dead-lettered", { outboxId: "o-1" });
    console.log("plain text", 42);

    expect(logs.lines.map((l) => l.stream)).toEqual(["log", "warn", "error", "log"]);
    expect(logs.entries("sweep")).toEqual([expect.objectContaining({ level: "info", emailsPurged: 4 })]);
    expect(logs.entries("stripe webhook refused", "warn")).toHaveLength(1);
    expect(logs.entries("stripe webhook refused", "error")).toHaveLength(0);
    expect(logs.entries(undefined, "error")).toEqual([expect.objectContaining({ outboxId: "o-1" })]);
    expect(logs.lines[3]?.entry).toEqual({ msg: "plain text 42" });
    // What the log line carried, as written: the redaction happened before the console saw it.
    expect(logs.text()).toContain('"signature":"[redacted]"');
    expect(logs.text()).not.toContain("v1=abc");
  });

  it("is gone after the test that captured", () => {
    expect(vi.isMockFunction(console.log)).toBe(false);
    expect(vi.isMockFunction(console.warn)).toBe(false);
    expect(vi.isMockFunction(console.error)).toBe(false);
  });
});
