/**
 * `/feed`: the signed-in person's home feed, newest first, with a composer on top. The first page is
 * rendered here from the feed service GET /api/v1/feed uses (src/features/social/feed.ts: posts and
 * reposts, edge-cached under the viewer's feed version); "Load more" is a link to the next page (the API's cursor), which
 * public/assets/social.js fetches and appends in place. An empty feed says how to fill it; a feed
 * that cannot be read says so with a retry (503, nothing else on the page breaks). Pull down at the
 * top on a touch screen to reload.
 *
 * The composer posts with the API (photos through POST /api/v1/media, then POST /api/v1/posts with an
 * Idempotency-Key) when scripts run; without them the form posts its text here (`POST /feed`), under
 * the same `posts` policy per person, written once per rendered form (./once.tsx).
 */
import type { AppContext } from "../../../context";
import { homeFeed } from "../../../features/social/feed";
import { createPost } from "../../../features/social/posts";
import { DomainError, rateLimitedError } from "../../../lib/errors";
import { log } from "../../../lib/log";
import { consumeRates, RateLimiterUnavailable } from "../../../lib/rate-limit-client";
import { Alert, CsrfField } from "../../components";
import { readForm } from "../../forms";
import { pageState, pageUser, render, seeOther } from "../../page";
import { FormKeyField, newFormKey, oncePerForm } from "./once";
import { PostCard } from "./parts";

/** Items per page, the API's default. */
export const FEED_PAGE_SIZE = 20;

/** A page of the feed as GET /api/v1/feed answers it (the same service, the same edge cache). */
type FeedPage = Awaited<ReturnType<typeof homeFeed>>;

function Composer(props: { csrfToken: string; invalid: boolean }) {
  return (
    <form method="post" action="/feed" class="card composer" enctype="multipart/form-data">
      <CsrfField token={props.csrfToken} />
      <FormKeyField value={newFormKey()} />
      <div class={props.invalid ? "field invalid" : "field"}>
        <label for="f-text">Write a post</label>
        <textarea
          id="f-text"
          name="text"
          rows={3}
          maxlength={2000}
          required
          aria-invalid={props.invalid ? "true" : undefined}
          aria-describedby={props.invalid ? "f-text-error" : undefined}
        />
        {props.invalid ? (
          <p class="field-error" id="f-text-error">
            A post needs some text, at most 2,000 characters.
          </p>
        ) : null}
      </div>
      <div class="field">
        <label for="f-photos">Photos (up to 4)</label>
        <input id="f-photos" name="photos" type="file" accept="image/jpeg,image/png,image/webp,image/gif" multiple />
      </div>
      <p class="composer-error field-error" role="alert" hidden />
      <button type="submit">Post</button>
    </form>
  );
}

function FeedList(props: { page: FeedPage; cursor: string | undefined }) {
  const { page } = props;
  if (page.items.length === 0 && !props.cursor) {
    return (
      <div class="card empty">
        <h2>Your feed is empty</h2>
        <p>Posts from you and the people you follow show up here. Write your first post above.</p>
      </div>
    );
  }
  return (
    <>
      <ul class="plain feed-list">
        {page.items.map((item) => (
          <li>
            <PostCard
              post={item.post}
              signedIn
              next="/feed"
              repostedBy={item.kind === "repost" ? item.repostedBy?.name : undefined}
            />
          </li>
        ))}
      </ul>
      {page.nextCursor ? (
        <p>
          <a class="button secondary" data-more href={`/feed?cursor=${encodeURIComponent(page.nextCursor)}`}>
            Load more
          </a>
        </p>
      ) : (
        <p class="muted small">You are all caught up.</p>
      )}
      <div class="more-error alert error" role="alert" hidden>
        More posts could not be loaded.{" "}
        <button type="button" class="link" data-retry-more>
          Try again
        </button>
      </div>
    </>
  );
}

export async function feedPage(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) {
    const url = new URL(c.req.url);
    return seeOther(c, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
  }
  const cursor = c.req.query("cursor") || undefined;
  const state = await pageState(c);
  let page: FeedPage | null = null;
  try {
    page = await homeFeed(c, user.id, { limit: FEED_PAGE_SIZE, cursor });
  } catch (error) {
    // A bad cursor is the visitor's (400 page); anything else is ours: the page says so, with a retry.
    if (error instanceof DomainError) throw error;
    log("error", "feed page: feed unreadable", { requestId: c.get("requestId"), error });
  }
  const posted = c.req.query("posted");
  const invalid = c.req.query("post") === "invalid";

  return render(c, {
    title: "Your feed",
    scripts: ["/assets/social.js"],
    head: <link rel="stylesheet" href="/assets/social.css" />,
    status: page ? 200 : 503,
    body: (
      <section class="social">
        <p class="pull-indicator muted small" aria-hidden="true" hidden />
        <h1>Your feed</h1>
        {posted ? <Alert kind="success">Your post is up.</Alert> : null}
        {cursor ? null : <Composer csrfToken={state.csrfToken} invalid={invalid} />}
        {page ? (
          <FeedList page={page} cursor={cursor} />
        ) : (
          <div class="alert error" role="alert">
            <p>Your feed could not be loaded just now. It is not your fault.</p>
            <p>
              <button type="button" data-retry>
                Try again
              </button>
            </p>
          </div>
        )}
      </section>
    ),
  });
}

/** `posts` per person, as POST /api/v1/posts takes it (open when the limiter cannot answer). */
async function takePostRate(c: AppContext, userId: string): Promise<void> {
  const policy = c.get("config").ratePolicies.posts;
  try {
    const [decision] = await consumeRates(c.env.RATE_LIMITER, `user:${userId}`, [policy]);
    if (decision && !decision.allowed) {
      throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many posts.");
    }
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
  }
}

/** The composer without scripts: its text only (photos need the script's uploads), once per rendered form. */
export async function submitPost(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) return seeOther(c, "/login?next=%2Ffeed");
  const fields = await readForm(c);
  const text = fields.text ?? "";
  try {
    const location = await oncePerForm(c, user.id, fields.key, JSON.stringify(["post", text]), "/feed", async () => {
      await takePostRate(c, user.id);
      const row = await createPost(c.env.DB, { id: user.id, roles: user.roles }, { text });
      return `/feed?posted=${encodeURIComponent(row.id)}`;
    });
    return seeOther(c, location);
  } catch (error) {
    if (error instanceof DomainError && error.code === "validation-failed") return seeOther(c, "/feed?post=invalid");
    throw error;
  }
}
