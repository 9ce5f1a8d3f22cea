/**
 * Social pages: `/feed` (the home feed with its composer) and `/p/:id` (a post, its comments and live
 * counts). Each page lives in ./social/; this file is the map.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { postPage, submitComment } from "./social/post";

export const socialPages = new Hono<AppEnv>().get("/p/:id", postPage).post("/p/:id/comments", submitComment);
