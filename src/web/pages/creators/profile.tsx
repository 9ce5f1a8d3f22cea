/**
 * `/@:handle`: a creator's public page, the one fans open from a bio link or a QR code. Avatar, name,
 * bio (text, never HTML), links as buttons that go through the click redirect `/l/:linkId?t=…` (the
 * token is the page's signed tracking token), upcoming events, and Open Graph / Twitter card tags so a
 * shared link previews well. Data from the public profile (features/creators/profile-page.ts, cached
 * at the edge); the page itself carries a per-response nonce and is never stored by a shared cache.
 *
 * The path is matched as the static prefix `/@*`: Hono's RegExpRouter cannot hold a root-level
 * parameter such as `/:at{@…}` beside the static pages, and `/@:handle` is not a parameter at all.
 * A handle changed within its grace period answers 301 to the new one; an unknown one the branded 404.
 */
import type { AppContext } from "../../../context";
import type { PublicProfile } from "../../../features/creators/profile-page";
import { lookupFor } from "../../../features/creators/routes-profile";
import { benefitsOf } from "../../../features/money";
import { problemStatus } from "../../../http/problem";
import { byIp } from "../../../http/rate-limit";
import { DomainError, rateLimitedError } from "../../../lib/errors";
import { consumeRates, RateLimiterUnavailable } from "../../../lib/rate-limit-client";
import { domainErrorPage, errorPage } from "../../errors";
import { SITE_NAME } from "../../layout";
import { pageUser, render } from "../../page";
import { TIP_SCRIPT, TipForm } from "./tips";

/** `profile-view` per address, as the JSON route takes it (open when the limiter cannot answer). */
async function takeViewRate(c: AppContext): Promise<void> {
  const policy = c.get("config").ratePolicies["profile-view"];
  try {
    const [decision] = await consumeRates(c.env.RATE_LIMITER, byIp(c), [policy]);
    if (decision && !decision.allowed) {
      throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many profile views.");
    }
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
  }
}

/** The handle in `/@handle` (percent-decoded), or null for a path with more segments. */
function handleOf(path: string): string | null {
  const raw = path.slice(2);
  if (raw === "" || raw.includes("/")) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/** One line of the bio for the description tags: whitespace folded, cut at 200 characters. */
function summary(profile: PublicProfile): string {
  const bio = profile.bio.replace(/\s+/g, " ").trim();
  const text = bio || `${profile.name} on ${SITE_NAME}: links and upcoming events.`;
  return [...text].length > 200 ? `${[...text].slice(0, 199).join("")}…` : text;
}

function eventDate(iso: string): string {
  return new Date(iso).toLocaleDateString("en-GB", {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    timeZone: "UTC",
  });
}

function SocialTags(props: { profile: PublicProfile; url: string; description: string }) {
  const { profile } = props;
  const title = `${profile.name} (@${profile.handle})`;
  return (
    <>
      <link rel="canonical" href={props.url} />
      <link rel="stylesheet" href="/assets/creators.css" />
      <meta property="og:type" content="profile" />
      <meta property="og:site_name" content={SITE_NAME} />
      <meta property="og:title" content={title} />
      <meta property="og:description" content={props.description} />
      <meta property="og:url" content={props.url} />
      <meta property="profile:username" content={profile.handle} />
      {profile.avatarUrl ? <meta property="og:image" content={profile.avatarUrl} /> : null}
      {profile.avatarUrl ? <meta property="og:image:alt" content={`${profile.name}'s picture`} /> : null}
      <meta name="twitter:card" content="summary" />
      <meta name="twitter:title" content={title} />
      <meta name="twitter:description" content={props.description} />
      {profile.avatarUrl ? <meta name="twitter:image" content={profile.avatarUrl} /> : null}
    </>
  );
}

function ProfileBody(props: { profile: PublicProfile; signedIn: boolean }) {
  const { profile } = props;
  const token = encodeURIComponent(profile.trackingToken);
  return (
    <article class="creator" aria-labelledby="creator-name">
      <header class="creator-head">
        {profile.avatarUrl ? (
          <img class="creator-avatar" src={profile.avatarUrl} alt="" width={96} height={96} />
        ) : (
          <span class="creator-avatar placeholder" aria-hidden="true">
            {[...profile.name][0]?.toUpperCase() ?? "@"}
          </span>
        )}
        <h1 id="creator-name">{profile.name}</h1>
        <p class="muted">@{profile.handle}</p>
        {profile.bio ? <p class="creator-bio">{profile.bio}</p> : null}
      </header>
      {profile.links.length > 0 ? (
        <nav class="creator-links" aria-label="Links">
          <ul>
            {profile.links.map((link) => (
              <li>
                <a class="button block" href={`/l/${encodeURIComponent(link.id)}?t=${token}`} rel="noopener nofollow">
                  {link.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      ) : null}
      {profile.tipping ? <TipForm profile={profile} signedIn={props.signedIn} /> : null}
      {profile.upcomingEvents.length > 0 ? (
        <section class="creator-events" aria-labelledby="creator-events-title">
          <h2 id="creator-events-title">Upcoming events</h2>
          <ul>
            {profile.upcomingEvents.map((event) => (
              <li>
                <a href={`/e/${encodeURIComponent(event.id)}`}>
                  <strong>{event.title}</strong>
                  <span class="muted small">
                    <time datetime={event.startsAt}>{eventDate(event.startsAt)}</time> · {event.venue.name}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {benefitsOf(profile.pro).branding ? (
        <footer class="creator-branding muted small">
          Made with <a href="/">{SITE_NAME}</a>
        </footer>
      ) : null}
    </article>
  );
}

export async function profilePage(c: AppContext): Promise<Response> {
  const handle = handleOf(c.req.path);
  if (handle === null) return errorPage(c, 404);
  try {
    await takeViewRate(c);
    const found = await lookupFor(c, handle);
    if (found.kind === "moved") {
      c.header("Cache-Control", "no-store");
      return c.redirect(`/@${encodeURIComponent(found.handle)}`, 301);
    }
    const profile = found.profile;
    const origin = c.get("config").publicUrl ?? new URL(c.req.url).origin;
    const url = `${origin}/@${profile.handle}`;
    const description = summary(profile);
    return render(c, {
      title: `${profile.name} (@${profile.handle})`,
      description,
      publicPage: true,
      head: <SocialTags profile={profile} url={url} description={description} />,
      // Counts the visit with the page's tracking token (POST /api/v1/track/visit).
      scripts: profile.tipping ? ["/assets/creator-track.js", TIP_SCRIPT] : ["/assets/creator-track.js"],
      bodyData: { "tracking-token": profile.trackingToken, creator: profile.handle },
      body: <ProfileBody profile={profile} signedIn={pageUser(c) !== null} />,
    });
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    if (problemStatus(error.code) === 404) {
      return errorPage(
        c,
        404,
        `Nobody on ${SITE_NAME} goes by @${handle.slice(0, 60)}. Check the spelling, or find events instead.`,
      );
    }
    return domainErrorPage(c, error);
  }
}
