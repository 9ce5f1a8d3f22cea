/**
 * PostLive's contract with the Worker: the socket's internal address, the message's shape and the
 * close code for a removed post. This is the one file of the object that src/ imports (plus the class's
 * type), so the object's internals can change without touching a feature.
 */
export type { PostLive } from "./index";

/** The object's one fetch address; the Worker forwards upgrades here (`?post=&addr=`). */
export const POST_LIVE_URL = "https://post-live.internal/live";

/** What every message says (the contract's live shape). */
export interface PostCounts {
  likes: number;
  comments: number;
  reposts: number;
}

/** Close code when the post goes away (removed or deleted) while people watch it. */
export const POST_GONE = 4404;
