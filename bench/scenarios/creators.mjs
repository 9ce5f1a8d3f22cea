/**
 * profile: a creator's public page `GET /@:handle` with the most links (100), read again and again.
 * After the first request the profile comes from the edge cache (the creator's, the profile's and the
 * events' versions do not move during the run): the `profile-view` limiter, one D1 query resolving
 * the handle with its cache versions, a Cache API match, a fresh tracking token and the page's render.
 * Target: ≥ 0.7× ping (issue 18). The setup checks that the JSON profile's second read is a HIT.
 */

const LINKS = 100;

async function api(base, method, path, token, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

export async function profileSetup({ base }) {
  const res = await fetch(`${base}/dev/fixtures/on-sale`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ users: 1, capacity: 1 }),
  });
  if (res.status !== 201) throw new Error(`profile fixture: ${res.status} ${await res.text()}`);
  const [token] = (await res.json()).tokens;
  const handle = `bench_${Math.random().toString(36).slice(2, 10)}`;
  await api(base, "PUT", "/api/v1/me/handle", token, { handle });
  for (let i = 0; i < LINKS; i++) {
    await api(base, "POST", "/api/v1/me/links", token, { title: `Link ${i + 1}`, url: `https://example.com/${i}` });
  }
  await fetch(`${base}/api/v1/profiles/${handle}`);
  const second = await fetch(`${base}/api/v1/profiles/${handle}`);
  const profile = await second.json();
  const page = await fetch(`${base}/@${handle}`);
  console.log(
    `bench:   profile: @${handle} with ${profile.links?.length} links; JSON second read X-Cache: ` +
      `${second.headers.get("x-cache")}; page ${page.status}, ${(await page.text()).length} bytes`,
  );
  return { path: `/@${handle}`, headers: { accept: "text/html" } };
}
