/** Account fixtures and mailbox readers for auth tests. */
import { env } from "cloudflare:workers";
import { getConfig } from "../../../src/config";
import type { AuthDeps } from "../../../src/features/auth/service";
import { hashPassword } from "../../../src/lib/password";
import { call, devCall, freshIp } from "../../helpers";
import { rows } from "../../support/db";

export const PASSWORD = "violet-otter-marmalade";

let n = 0;
export function uniqueEmail(prefix = "user"): string {
  n += 1;
  return `${prefix}-${n}-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

/** Creates a user directly (fixtures may skip sign-up), at the test hashing cost. */
export async function createUser(
  options: { email?: string; password?: string; verified?: boolean; roles?: string[]; name?: string } = {},
) {
  const email = options.email ?? uniqueEmail();
  const id = crypto.randomUUID();
  const now = Date.now();
  await env.DB.prepare(
    "INSERT INTO users (id, email, name, password_hash, email_verified_at, roles, session_epoch, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
  )
    .bind(
      id,
      email,
      options.name ?? "Test User",
      await hashPassword(options.password ?? PASSWORD, { logN: 10, r: 8, p: 1 }),
      options.verified === false ? null : now,
      JSON.stringify(options.roles ?? ["attendee"]),
      now,
      now,
    )
    .run();
  return { id, email, password: options.password ?? PASSWORD };
}

export function postJson(path: string, payload: unknown, init: { ip?: string; headers?: Record<string, string> } = {}) {
  return call(path, {
    method: "POST",
    ip: init.ip ?? freshIp(),
    headers: { "Content-Type": "application/json", ...init.headers },
    body: JSON.stringify(payload),
  });
}

export async function login(email: string, password = PASSWORD, ip = freshIp()) {
  const res = await postJson("/api/v1/auth/login", { email, password }, { ip });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { accessToken: string; refreshToken: string; expiresIn: number; user: { id: string } };
}

export function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}

export interface MailItem {
  to: string;
  subject: string;
  text: string;
  template: string;
  createdAt: string;
}

export async function mailbox(to: string): Promise<MailItem[]> {
  const res = await devCall(`/dev/mailbox?to=${encodeURIComponent(to)}`);
  return ((await res.json()) as { items: MailItem[] }).items;
}

/**
 * The newest email of `template` to `to`, waiting briefly for it: account emails are written after the
 * answer (waitUntil), so that known and unknown addresses answer alike.
 */
export async function mailOf(to: string, template: string): Promise<MailItem> {
  // Polls by reading again (each read is a round trip the deferred work runs alongside) rather than
  // with vi.waitFor, which would move a test's fake clock on every try.
  for (let attempt = 0; attempt < 200; attempt++) {
    const mail = (await mailbox(to)).find((m) => m.template === template);
    if (mail) return mail;
  }
  throw new Error(`no ${template} mailed to ${to}`);
}

/** The token query parameter from the newest email of `template` sent to `to`. */
export async function tokenFromMail(to: string, template: string): Promise<string> {
  const mail = await mailOf(to, template);
  const link = mail.text.match(/https?:\/\/\S+/)?.[0];
  const token = link ? new URL(link).searchParams.get("token") : null;
  if (!token) throw new Error(`no ${template} token mailed to ${to}`);
  return token;
}

export async function otpFromMail(to: string): Promise<string> {
  const code = (await mailOf(to, "otp-code")).text.match(/\b(\d{6})\b/)?.[1];
  if (!code) throw new Error(`no code mailed to ${to}`);
  return code;
}

export interface AuditRow {
  id: string;
  at: number;
  user_id: string | null;
  action: string;
  outcome: string;
  ip_hash: string | null;
  user_agent: string | null;
  request_id: string | null;
  detail: string;
}

/** Audit rows written while serving `res` (matched on its X-Request-Id). */
export function auditOf(res: Response): Promise<AuditRow[]> {
  return rows<AuditRow>("SELECT * FROM audit_log WHERE request_id = ? ORDER BY at", res.headers.get("X-Request-Id"));
}

export function auditForUser(userId: string, action?: string): Promise<AuditRow[]> {
  return action
    ? rows<AuditRow>("SELECT * FROM audit_log WHERE user_id = ? AND action = ? ORDER BY at", userId, action)
    : rows<AuditRow>("SELECT * FROM audit_log WHERE user_id = ? ORDER BY at", userId);
}

/** Every token mailed to `to` with `template`, newest first. */
export async function tokensFromMail(to: string, template: string): Promise<string[]> {
  return (await mailbox(to))
    .filter((m) => m.template === template)
    .map((m) => new URL(m.text.match(/https?:\/\/\S+/)?.[0] ?? "http://x/").searchParams.get("token"))
    .filter((t): t is string => t !== null);
}

/** Base64url of a JSON value, for hand-built JWTs. */
export function b64urlJson(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes a JWT's payload without verifying it. */
export function jwtPayload(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
}

/** Row readers and the problem code live in the test kit (test/support/db.ts); these names stay for their importers. */
export { codeOf, countRows, rows } from "../../support/db";

/** What an account flow is given, with `db` as its D1 (a proxy that fails or interleaves statements). */
export function authDepsWith(db: D1Database, requestId = "test"): AuthDeps {
  return {
    db,
    config: getConfig(env),
    limiter: env.RATE_LIMITER,
    meta: { requestId, ip: freshIp(), userAgent: null },
    origin: "https://gatehouse.test",
    emailQueue: env.EMAIL_QUEUE,
    defer: () => {},
  };
}
