/**
 * Social pages: `/feed` (the home feed with its composer) and `/p/:id` (a post, its comments and live
 * counts). Each page lives in ./social/; this file is the map.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { feedPage, submitPost } from "./social/feed";
import { postPage, submitComment } from "./social/post";

export const socialPages = new Hono<AppEnv>()
  .get("/feed", feedPage)
  .post("/feed", submitPost)
  .get("/p/:id", postPage)
  .post("/p/:id/comments", submitComment);
