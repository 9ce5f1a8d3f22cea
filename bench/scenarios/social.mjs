/**
 * feed and like: the social layer's two hottest paths, set up over HTTP with the on-sale fixture's
 * password-less users (POST /dev/fixtures/on-sale answers access tokens; their `sub` is the user id).
 *
 * - feed: one viewer following FEED_FOLLOWED people who posted and reposted; every request reads the
 *   viewer's first page, which after the first request comes from the edge cache (the viewer's
 *   feed_version does not move during the run): the session, the `api` limiter, the version read
 *   and a Cache API match. The setup checks that a second read answers `X-Cache: HIT`.
 * - like: LIKERS different people liking one post, each request the next person (a hot post: every
 *   like updates the same posts row and tells the same live-count object). Once every liker has
 *   liked, the tokens come round again and the PUTs are the idempotent no-op path (the report says
 *   how many). The warm-up likes another post, so the measured run starts with fresh likes.
 */

const FEED_FOLLOWED = 20;
const FEED_POSTS_EACH = 2;
const LIKERS = 5_000;

/** `count` users with access tokens (the on-sale fixture's buyers; the event itself is unused). */
async function people(base, count) {
  const res = await fetch(`${base}/dev/fixtures/on-sale`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ users: count, capacity: 1 }),
  });
  if (res.status !== 201) throw new Error(`social fixture: ${res.status} ${await res.text()}`);
  const { tokens } = await res.json();
  return tokens.map((token) => ({ token, id: JSON.parse(Buffer.from(token.split(".")[1], "base64url")).sub }));
}

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

const post = async (base, token, text) => (await (await api(base, "POST", "/api/v1/posts", token, { text })).json()).id;

export async function feedSetup({ base }) {
  const [viewer, ...followed] = await people(base, FEED_FOLLOWED + 1);
  for (const person of followed) await api(base, "PUT", `/api/v1/users/${person.id}/follow`, viewer.token);
  const posts = [];
  for (const [i, person] of followed.entries()) {
    for (let n = 0; n < FEED_POSTS_EACH; n++) posts.push(await post(base, person.token, `Post ${n} by person ${i}`));
  }
  // A few reposts, so the page holds both kinds.
  for (const [i, person] of followed.slice(0, 5).entries()) {
    await api(base, "PUT", `/api/v1/posts/${posts[(i * 7) % posts.length]}/repost`, person.token);
  }
  await api(base, "GET", "/api/v1/feed", viewer.token);
  const second = await api(base, "GET", "/api/v1/feed", viewer.token);
  const page = await second.json();
  console.log(
    `bench:   feed: 1 viewer following ${FEED_FOLLOWED} people, ${posts.length} posts and 5 reposts; ` +
      `page of ${page.items.length}, second read X-Cache: ${second.headers.get("x-cache")}`,
  );
  return { headers: { authorization: `Bearer ${viewer.token}` } };
}

export async function likeSetup({ base }) {
  const [author, ...likers] = await people(base, LIKERS + 1);
  const hot = await post(base, author.token, "The hot post");
  const warm = await post(base, author.token, "The warm-up's post");
  const likePath = (id) => `/api/v1/posts/${id}/like`;
  const tokens = likers.map((p) => p.token);
  return {
    path: likePath(hot),
    bearerTokens: tokens,
    warmup: { path: likePath(warm), bearerTokens: tokens },
    after: async ({ outcomes }) => {
      const res = await fetch(`${base}/api/v1/posts/${hot}`);
      const stored = res.ok ? (await res.json()).counts.likes : null;
      return {
        like: {
          likers: tokens.length,
          tokensReused: Math.max(0, outcomes.tokensSent - tokens.length),
          storedLikes: stored,
          nonOk: outcomes.nonOk,
        },
      };
    },
  };
}
