/** API key fixtures: a host with a session and a key of chosen scopes, and requests made with a key. */
import { API_KEY_SCOPES, type ApiKeyScope } from "../../../src/db/schema-integrations";
import { type CallInit, call } from "../../helpers";
import { bearer } from "../auth/helpers";
import { hostWithToken } from "../events/helpers";

export const KEYS_PATH = "/api/v1/me/api-keys";

export interface CreatedKey {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  prefix: string;
  key: string;
  createdAt: string;
}

export function postKey(token: string, body: unknown, init: CallInit = {}) {
  return call(KEYS_PATH, {
    ...init,
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

export async function createKey(
  token: string,
  scopes: readonly ApiKeyScope[] = API_KEY_SCOPES,
  name = "CRM sync",
): Promise<CreatedKey> {
  const res = await postKey(token, { name, scopes });
  if (res.status !== 201) throw new Error(`create key: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedKey;
}

/** A host with a session token and a key (every scope unless told). */
export async function hostWithKey(scopes: readonly ApiKeyScope[] = API_KEY_SCOPES) {
  const host = await hostWithToken();
  const key = await createKey(host.token, scopes);
  return { host, key };
}

/** A request authenticated by `key` (`Authorization: Bearer gh_live_…`). */
export function withKey(key: string, path: string, init: CallInit = {}) {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${key}`);
  if (init.body !== undefined && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  return call(path, { ...init, headers });
}
