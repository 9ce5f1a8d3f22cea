/** Account fixtures and mailbox readers for auth tests. */
import { env } from "cloudflare:workers";
import { hashPassword } from "../../../src/lib/password";
import { call, freshIp } from "../../helpers";

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
  const res = await call(`/dev/mailbox?to=${encodeURIComponent(to)}`);
  return ((await res.json()) as { items: MailItem[] }).items;
}

/** The token query parameter from the newest email of `template` sent to `to`. */
export async function tokenFromMail(to: string, template: string): Promise<string> {
  const mail = (await mailbox(to)).find((m) => m.template === template);
  const link = mail?.text.match(/https?:\/\/\S+/)?.[0];
  const token = link ? new URL(link).searchParams.get("token") : null;
  if (!token) throw new Error(`no ${template} token mailed to ${to}`);
  return token;
}

export async function otpFromMail(to: string): Promise<string> {
  const mail = (await mailbox(to)).find((m) => m.template === "otp-code");
  const code = mail?.text.match(/\b(\d{6})\b/)?.[1];
  if (!code) throw new Error(`no code mailed to ${to}`);
  return code;
}
