/** Media fixtures: uploads through the Worker, signed-URL fetches, and what D1/R2 hold. */
import { env } from "cloudflare:workers";
import { getConfig } from "../../../src/config";
import { signedPath, signMedia } from "../../../src/features/media/signing";
import { call } from "../../helpers";
import { bearer, createUser, login } from "../auth/helpers";

export interface Uploaded {
  id: string;
  url: string;
  expiresAt: string;
  contentType: string;
  width: number;
  height: number;
  bytes: number;
  purpose: string;
  visibility: string;
}

export interface MediaRow {
  id: string;
  owner_id: string;
  purpose: string;
  visibility: string;
  content_type: string;
  r2_key: string;
  bytes: number;
  width: number;
  height: number;
  sha256: string;
  created_at: number;
}

export async function userWithToken(roles: string[] = ["attendee"]) {
  const user = await createUser({ roles });
  const { accessToken } = await login(user.email);
  return { ...user, token: accessToken };
}

export interface UploadOptions {
  purpose?: string;
  visibility?: string;
  /** Send the raw bytes as the body (options in the query) instead of multipart. */
  raw?: boolean;
  filename?: string;
  contentType?: string;
}

export function uploadRequest(token: string | null, bytes: Uint8Array, options: UploadOptions = {}) {
  const headers: Record<string, string> = token ? bearer(token) : {};
  if (options.raw) {
    const query = new URLSearchParams();
    if (options.purpose) query.set("purpose", options.purpose);
    if (options.visibility) query.set("visibility", options.visibility);
    headers["Content-Type"] = options.contentType ?? "application/octet-stream";
    return call(`/api/v1/media${query.size ? `?${query}` : ""}`, { method: "POST", headers, body: bytes });
  }
  const form = new FormData();
  form.append(
    "file",
    new File([bytes], options.filename ?? "photo.jpg", { type: options.contentType ?? "image/jpeg" }),
  );
  if (options.purpose) form.append("purpose", options.purpose);
  if (options.visibility) form.append("visibility", options.visibility);
  return call("/api/v1/media", { method: "POST", headers, body: form });
}

export async function upload(token: string, bytes: Uint8Array, options: UploadOptions = {}): Promise<Uploaded> {
  const res = await uploadRequest(token, bytes, options);
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return (await res.json()) as Uploaded;
}

/** Path and query of an absolute signed URL, for `call`. */
export const pathOf = (url: string) => {
  const u = new URL(url);
  return u.pathname + u.search;
};

export function fetchSigned(url: string, headers: Record<string, string> = {}) {
  return call(pathOf(url), { headers });
}

export async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

export function mediaRow(id: string): Promise<MediaRow | null> {
  return env.DB.prepare("SELECT * FROM media WHERE id = ?").bind(id).first<MediaRow>();
}

export async function mediaRowsOf(ownerId: string): Promise<MediaRow[]> {
  return (await env.DB.prepare("SELECT * FROM media WHERE owner_id = ?").bind(ownerId).all<MediaRow>()).results;
}

/** A path signed with the configured keys for any id and expiry (tests forge and tamper with these). */
export async function signedFor(id: string, exp: number): Promise<string> {
  return signedPath(id, await signMedia(getConfig(env).mediaSigningKeys, id, exp));
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export async function sha256(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
