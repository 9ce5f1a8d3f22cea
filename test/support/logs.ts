/**
 * The log lines a test caused, for the tests that assert on logging: `captureLogs()` takes over
 * console.log / warn / error for the rest of the current test (nothing is printed) and keeps each
 * line, parsed when it is one of the Worker's JSON lines (src/lib/log: { level, msg, ...fields }).
 */
import { onTestFinished, vi } from "vitest";

export type Stream = "log" | "warn" | "error";

export interface LogLine {
  /** The console method that wrote it. */
  stream: Stream;
  /** The line as written. */
  raw: string;
  /** The parsed JSON line; for a line that is not JSON, `{ msg: raw }`. */
  entry: { level?: string; msg?: string } & Record<string, unknown>;
}

export interface CapturedLogs {
  readonly lines: LogLine[];
  /** The parsed lines whose `msg` is `msg` (optionally only those of `level`). */
  entries(msg?: string, level?: string): LogLine["entry"][];
  /** The lines written to `stream` (every stream when omitted), as written. */
  raw(stream?: Stream): string[];
  /** Every line as written, joined by newlines (to check that something is never logged). */
  text(): string;
}

function parse(raw: string): LogLine["entry"] {
  if (raw.startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as LogLine["entry"];
    } catch {
      // Not one of the Worker's lines: kept as text.
    }
  }
  return { msg: raw };
}

/** Captures (and silences) console output for the rest of the current test. */
export function captureLogs(): CapturedLogs {
  const lines: LogLine[] = [];
  const spies = (["log", "warn", "error"] as const).map((stream) =>
    vi.spyOn(console, stream).mockImplementation((...args: unknown[]) => {
      const raw = args
        .map((a) => (typeof a === "string" ? a : a instanceof Error ? String(a) : JSON.stringify(a)))
        .join(" ");
      lines.push({ stream, raw, entry: parse(raw) });
    }),
  );
  onTestFinished(() => {
    for (const spy of spies) spy.mockRestore();
  });
  return {
    lines,
    entries: (msg, level) =>
      lines
        .map((l) => l.entry)
        .filter((e) => (msg === undefined || e.msg === msg) && (level === undefined || e.level === level)),
    raw: (stream) => lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.raw),
    text: () => lines.map((l) => l.raw).join("\n"),
  };
}
