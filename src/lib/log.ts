/**
 * Structured logging: one JSON object per line, with anything that looks like a credential redacted
 * before it is serialised. Workers Logs indexes the JSON fields.
 */

const SENSITIVE_KEY =
  /authorization|cookie|token|password|passwd|secret|signature|^sig$|api[-_]?key|otp|^code$|credential/i;

export const REDACTED = "[redacted]";

/** Query parameters are redacted by the same rule as object keys. */
export function redactUrl(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf("?");
  if (q === -1) return pathAndQuery;
  const params = new URLSearchParams(pathAndQuery.slice(q + 1));
  for (const key of [...params.keys()]) {
    if (SENSITIVE_KEY.test(key)) params.set(key, REDACTED);
  }
  const query = params.toString();
  return query ? `${pathAndQuery.slice(0, q)}?${query}` : pathAndQuery.slice(0, q);
}

/** Deep copy of `value` with sensitive keys replaced by "[redacted]". */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, msg: message, ...(redact(fields) as object), time: new Date().toISOString() });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
