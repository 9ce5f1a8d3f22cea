/**
 * `/p/:id`: one post with its comments and their replies, the reaction buttons, a comment form, and
 * live counts (public/assets/social.js opens /api/v1/posts/:id/live). Anyone may read it; a missing,
 * removed or blocked post is the branded 404 page. The comment form is a plain form posted here
 * (`POST /p/:id/comments`): the same rules, rate policy (`comments`, per person) and live-count
 * announcement as POST /api/v1/posts/:id/comments, written once per rendered form (./once.tsx), then
 * back to the comment on the page.
 */
import type { AppContext } from "../../../context";
import { postChanged } from "../../../features/social";
import { type Comment, createComment, listComments, toComment } from "../../../features/social/comments";
import { getPost } from "../../../features/social/posts";
import { postMediaUrls, toPost } from "../../../features/social/present";
import { DomainError, rateLimitedError } from "../../../lib/errors";
import { consumeRates, RateLimiterUnavailable } from "../../../lib/rate-limit-client";
import { Alert, CsrfField } from "../../components";
import { readForm } from "../../forms";
import { pageState, pageUser, render, seeOther } from "../../page";
import { FormKeyField, newFormKey, oncePerForm } from "./once";
import { CommentItem, PostCard } from "./parts";

/** Comments shown under the post; a longer thread continues on ?comments=<cursor>. */
export const COMMENTS_PER_PAGE = 100;

/** Top-level comments in order, each with its replies (a reply whose parent is on an earlier page stands alone). */
function threads(comments: Comment[]): { comment: Comment; replies: Comment[] }[] {
  const tops = new Map<string, { comment: Comment; replies: Comment[] }>();
  const out: { comment: Comment; replies: Comment[] }[] = [];
  for (const comment of comments) {
    const parent = comment.parentId ? tops.get(comment.parentId) : undefined;
    if (parent) parent.replies.push(comment);
    else {
      const thread = { comment, replies: [] };
      if (!comment.parentId) tops.set(comment.id, thread);
      out.push(thread);
    }
  }
  return out;
}

export async function postPage(c: AppContext): Promise<Response> {
  const postId = c.req.param("id") ?? "";
  const user = pageUser(c);
  const viewer = user?.id ?? null;
  const mediaUrl = postMediaUrls(c);
  const post = await toPost(await getPost(c.env.DB, viewer, postId), mediaUrl, c.get("config").pii);
  const cursor = c.req.query("comments");
  const page = await listComments(c.env.DB, viewer, postId, { limit: COMMENTS_PER_PAGE, cursor });
  const comments = await Promise.all(page.items.map((row) => toComment(row, mediaUrl, c.get("config").pii)));
  const state = await pageState(c);
  const here = `/p/${encodeURIComponent(post.id)}`;
  const sent = c.req.query("commented");

  return render(c, {
    title: `${post.author.name || "A post"}: “${post.text.slice(0, 40)}${post.text.length > 40 ? "…" : ""}”`,
    description: post.text.slice(0, 160),
    scripts: ["/assets/social.js"],
    head: <link rel="stylesheet" href="/assets/social.css" />,
    bodyData: { "post-live": post.id },
    body: (
      <section class="social">
        <h1 class="visually-hidden">Post</h1>
        <PostCard post={post} signedIn={!!user} next={here} full />
        <p class="live-status muted small" role="status" hidden />
        <section id="comments" aria-labelledby="comments-title">
          <h2 id="comments-title">Comments</h2>
          {sent ? <Alert kind="success">Your comment is posted.</Alert> : null}
          {c.req.query("comment") === "invalid" ? (
            <Alert kind="error">A comment needs some text, at most 2,000 characters.</Alert>
          ) : null}
          {comments.length === 0 ? (
            <p class="muted">No comments yet.</p>
          ) : (
            <ul class="plain comments">
              {threads(comments).map((t) => (
                <CommentItem comment={t.comment} replies={t.replies} signedIn={!!user} />
              ))}
            </ul>
          )}
          {page.nextCursor ? (
            <p>
              <a href={`${here}?comments=${encodeURIComponent(page.nextCursor)}#comments`}>More comments</a>
            </p>
          ) : null}
          {user ? (
            <form method="post" action={`${here}/comments`} class="comment-form">
              <CsrfField token={state.csrfToken} />
              <FormKeyField value={newFormKey()} />
              <input type="hidden" name="parentId" value="" />
              <p class="replying muted small" hidden>
                Replying to a comment.{" "}
                <button type="button" class="link small" data-reply-cancel>
                  Cancel
                </button>
              </p>
              <div class="field">
                <label for="f-comment">Add a comment</label>
                <textarea id="f-comment" name="text" rows={3} maxlength={2000} required />
              </div>
              <button type="submit">Comment</button>
            </form>
          ) : (
            <p>
              <a href={`/login?next=${encodeURIComponent(here)}`}>Sign in</a> to comment.
            </p>
          )}
        </section>
      </section>
    ),
  });
}

/** `comments` per person, as the API route takes it (open when the limiter cannot answer). */
async function takeCommentRate(c: AppContext, userId: string): Promise<void> {
  const policy = c.get("config").ratePolicies.comments;
  try {
    const [decision] = await consumeRates(c.env.RATE_LIMITER, `user:${userId}`, [policy]);
    if (decision && !decision.allowed) {
      throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many comments.");
    }
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
  }
}

export async function submitComment(c: AppContext): Promise<Response> {
  const postId = c.req.param("id") ?? "";
  const here = `/p/${encodeURIComponent(postId)}`;
  const user = pageUser(c);
  if (!user) return seeOther(c, `/login?next=${encodeURIComponent(here)}`);
  const fields = await readForm(c);
  const parentId = fields.parentId?.trim() || undefined;
  const text = fields.text ?? "";
  try {
    const request = JSON.stringify(["comment", postId, parentId ?? null, text]);
    const location = await oncePerForm(c, user.id, fields.key, request, `${here}#comments`, async () => {
      await takeCommentRate(c, user.id);
      const row = await createComment(c.env.DB, { id: user.id, roles: user.roles }, postId, { text, parentId });
      c.get("defer")(() => postChanged(c.env, postId));
      return `${here}?commented=1#c-${encodeURIComponent(row.id)}`;
    });
    return seeOther(c, location);
  } catch (error) {
    // An empty or overlong comment: the page's own form says what is wrong, not an error page.
    if (error instanceof DomainError && error.code === "validation-failed") {
      return seeOther(c, `${here}?comment=invalid#comments`);
    }
    throw error;
  }
}
