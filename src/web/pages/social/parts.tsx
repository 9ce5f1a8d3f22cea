/**
 * What the social pages share: a post as a card (author, text, photos, counts and the like, repost and
 * bookmark buttons public/assets/social.js drives), a comment, and how times read. Post and comment
 * text is a JSX text child, so it is escaped: it shows as typed, never as HTML.
 */
import type { Comment } from "../../../features/social/comments";
import type { Post } from "../../../features/social/present";

const timeFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "UTC",
  timeZoneName: "short",
});

export function When(props: { iso: string }) {
  return <time datetime={props.iso}>{timeFormat.format(new Date(props.iso))}</time>;
}

function AuthorLine(props: { author: Post["author"] }) {
  const { author } = props;
  return (
    <span class="author">
      {author.avatarUrl ? <img class="avatar" src={author.avatarUrl} alt="" width={32} height={32} /> : null}
      <strong>{author.name || "Someone"}</strong>
      {author.handle ? <span class="muted"> @{author.handle}</span> : null}
    </span>
  );
}

type Reaction = "like" | "repost" | "bookmark";

const REACTION_LABEL: Record<Reaction, [string, string]> = {
  like: ["Like", "likes"],
  repost: ["Repost", "reposts"],
  bookmark: ["Bookmark", "bookmarks"],
};

/**
 * A reaction as a toggle button (aria-pressed). Signed out, it is a link to sign in and come back.
 * The count sits in a span social.js updates, optimistically and from the live socket.
 */
function ReactionButton(props: { post: Post; reaction: Reaction; signedIn: boolean; next: string }) {
  const { post, reaction } = props;
  const [label, unit] = REACTION_LABEL[reaction];
  const active =
    reaction === "like" ? post.viewer.liked : reaction === "repost" ? post.viewer.reposted : post.viewer.bookmarked;
  const count =
    reaction === "like" ? post.counts.likes : reaction === "repost" ? post.counts.reposts : post.counts.bookmarks;
  const inner = (
    <>
      {label} <span data-count={unit}>{count}</span>
      <span class="visually-hidden"> {unit}</span>
    </>
  );
  if (!props.signedIn) {
    return (
      <a class="react" href={`/login?next=${encodeURIComponent(props.next)}`}>
        {inner}
      </a>
    );
  }
  return (
    <button type="button" class="react" data-reaction={reaction} aria-pressed={active ? "true" : "false"}>
      {inner}
    </button>
  );
}

export function PostCard(props: { post: Post; signedIn: boolean; next: string; repostedBy?: string; full?: boolean }) {
  const { post } = props;
  const href = `/p/${encodeURIComponent(post.id)}`;
  return (
    <article class="card post" data-post-id={post.id} id={props.full ? "post" : undefined}>
      {props.repostedBy ? <p class="muted small">Reposted by {props.repostedBy}</p> : null}
      <header class="post-head">
        <AuthorLine author={post.author} />
        <a class="muted small" href={href}>
          <When iso={post.createdAt} />
        </a>
      </header>
      <p class="post-text">{post.text}</p>
      {post.media.length > 0 ? (
        <div class={`post-media n${post.media.length}`}>
          {post.media.map((m) => (
            <img src={m.url} width={m.width} height={m.height} alt="" loading="lazy" />
          ))}
        </div>
      ) : null}
      {post.eventId ? (
        <p class="small">
          <a href={`/e/${encodeURIComponent(post.eventId)}`}>About an event</a>
        </p>
      ) : null}
      <div class="post-actions">
        <ReactionButton post={post} reaction="like" signedIn={props.signedIn} next={props.next} />
        <a class="react" href={`${href}#comments`}>
          Comments <span data-count="comments">{post.counts.comments}</span>
          <span class="visually-hidden"> comments</span>
        </a>
        <ReactionButton post={post} reaction="repost" signedIn={props.signedIn} next={props.next} />
        <ReactionButton post={post} reaction="bookmark" signedIn={props.signedIn} next={props.next} />
      </div>
      <p class="post-error field-error" role="alert" hidden />
    </article>
  );
}

export function CommentItem(props: { comment: Comment; replies: Comment[]; signedIn: boolean }) {
  const { comment } = props;
  return (
    <li class="comment" id={`c-${comment.id}`}>
      <p class="comment-head">
        <AuthorLine author={comment.author} />{" "}
        <span class="muted small">
          <When iso={comment.createdAt} />
        </span>
      </p>
      <p class="post-text">{comment.text}</p>
      {props.signedIn ? (
        <button type="button" class="link small" data-reply-to={comment.id}>
          Reply
        </button>
      ) : null}
      {props.replies.length > 0 ? (
        <ul class="plain replies">
          {props.replies.map((reply) => (
            <li class="comment reply" id={`c-${reply.id}`}>
              <p class="comment-head">
                <AuthorLine author={reply.author} />{" "}
                <span class="muted small">
                  <When iso={reply.createdAt} />
                </span>
              </p>
              <p class="post-text">{reply.text}</p>
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}
