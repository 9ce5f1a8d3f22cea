/**
 * HTTP for media: upload (POST /api/v1/media), a signed URL for who may see it (GET
 * /api/v1/media/:id), delete by the owner, and the signed byte route (GET /media/:id?exp&kid&sig).
 * Every rule lives in service.ts; the byte route's HTTP mechanics (ranges, validators) in serve.ts.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { fieldErrors } from "../../http/validation";
import { DomainError } from "../../lib/errors";
import {
  MediaIdParam,
  MediaUploadSchema,
  MediaUrlSchema,
  PURPOSES,
  SignedQuery,
  UploadOptions,
  UploadQuery,
} from "./schema";
import { etagOf, mediaHeaders, noneMatch, parseRange, type RangeRequest, rangeApplies } from "./serve";
import * as media from "./service";
import { readUpload } from "./upload-body";

const tags = ["Media"];

/** Path prefix → body limit, for the app's bodyLimit(): the ceiling plus the multipart envelope. */
export const MEDIA_BODY_LIMITS = {
  "/api/v1/media": LIMITS.mediaUploadCeilingBytes + LIMITS.mediaMultipartOverheadBytes,
} as const;

function deps(c: AppContext): media.MediaDeps {
  const config = c.get("config");
  return { db: c.env.DB, bucket: c.env.MEDIA, config, origin: config.publicUrl ?? new URL(c.req.url).origin };
}

function viewer(c: AppContext): media.Viewer | null {
  const principal = c.get("principal");
  return principal?.kind === "user" ? { id: principal.id, roles: principal.roles } : null;
}

function caller(c: AppContext): media.Viewer {
  const user = viewer(c);
  if (!user) throw new DomainError("unauthorized", "Sign in to continue.");
  return user;
}

const binary = { type: "string", format: "binary" } as const;

const uploadRoute = createRoute({
  method: "post",
  path: "/api/v1/media",
  tags,
  summary: "Upload an image (JPEG, PNG, WebP, GIF); metadata is stripped losslessly",
  description:
    "multipart/form-data with a `file` part (and optional `purpose`, `visibility` fields), or the raw image " +
    "as the body with `purpose` and `visibility` in the query. The type is read from the bytes, not the name " +
    "or Content-Type. Location, camera serials, comments and thumbnails are removed; the colour profile and " +
    "orientation are kept.",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "media-upload", key: (c) => `user:${c.get("principal")?.id}` }),
  ] as const,
  request: {
    query: UploadQuery,
    // Plain OpenAPI schemas (not zod): the handler reads the body itself, counting bytes as they arrive.
    body: {
      required: true,
      content: {
        "multipart/form-data": {
          schema: {
            type: "object",
            required: ["file"],
            properties: {
              file: binary,
              purpose: { type: "string", enum: [...PURPOSES], default: "post" },
              visibility: { type: "string", enum: ["private", "public"], default: "private" },
            },
          },
        },
        "image/*": { schema: binary },
      },
    },
  },
  responses: {
    201: json(MediaUploadSchema, "Stored; `url` is a signed link to the stripped bytes"),
    ...problems(
      ["validation-failed", "purpose, visibility, missing file"],
      ["bad-request", "unparseable multipart"],
      "unauthorized",
      "payload-too-large",
      ["unsupported-media-type", "not a JPEG, PNG, WebP or GIF, or truncated / corrupt"],
      "too-many-pixels",
      ["too-many-segments", "more segments, chunks or blocks than any real image has"],
      "rate-limited",
    ),
  },
});

const urlRoute = createRoute({
  method: "get",
  path: "/api/v1/media/{id}",
  tags,
  summary: "A short-lived signed URL for media you may see",
  request: { params: MediaIdParam },
  responses: {
    200: json(MediaUrlSchema, "Signed URL (5 min for private media, about a day for public)"),
    ...problems(["not-found", "also for media you may not see"]),
  },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/api/v1/media/{id}",
  tags,
  summary: "Delete your media (bytes and record)",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: MediaIdParam },
  responses: { 204: { description: "Deleted" }, ...problems("unauthorized", "not-found") },
});

const serveRoute = createRoute({
  method: "get",
  path: "/media/{id}",
  tags,
  summary: "The bytes behind a signed URL",
  description: "Supports ETag / If-None-Match (304) and single byte ranges (206, 416).",
  request: { params: MediaIdParam, query: SignedQuery },
  responses: {
    200: { description: "The image", content: { "image/*": { schema: binary } } },
    206: { description: "One byte range", content: { "image/*": { schema: binary } } },
    304: { description: "Not modified" },
    416: { description: "Range not satisfiable" },
    ...problems(["forbidden", "bad or expired signature"], "not-found"),
  },
});

export const mediaRoutes = new OpenAPIHono<AppEnv>()
  .openapi(uploadRoute, async (c) => {
    const d = deps(c);
    const limits = {
      fileBytes: d.config.mediaMaxUploadBytes,
      bodyBytes: d.config.mediaMaxUploadBytes + LIMITS.mediaMultipartOverheadBytes,
    };
    const upload = await readUpload(c.req.raw, limits);
    const options = UploadOptions.safeParse(upload.fields);
    if (!options.success) {
      const errors = fieldErrors(options.error.issues);
      throw new DomainError("validation-failed", `${errors.length} field(s) are not valid.`, { errors });
    }
    return c.json(await media.uploadMedia(d, caller(c), upload.file, options.data), 201);
  })
  .openapi(urlRoute, async (c) => {
    c.header("Cache-Control", "private, no-store");
    return c.json(await media.mediaUrl(deps(c), viewer(c), c.req.valid("param").id), 200);
  })
  .openapi(deleteRoute, async (c) => {
    await media.deleteMedia(deps(c), caller(c), c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(serveRoute, async (c) => {
    const d = deps(c);
    const { row, exp } = await media.signedMedia(d, c.req.valid("param").id, c.req.valid("query"), c.get("requestId"));
    const headers = mediaHeaders(row, exp, Math.floor(Date.now() / 1000));
    const etag = etagOf(row);
    if (noneMatch(c.req.header("If-None-Match"), etag)) return new Response(null, { status: 304, headers });
    const range: RangeRequest = rangeApplies(c.req.header("If-Range"), etag)
      ? parseRange(c.req.header("Range"), row.bytes)
      : { kind: "full" };
    if (range.kind === "unsatisfiable") {
      headers.set("Content-Range", `bytes */${row.bytes}`);
      return new Response(null, { status: 416, headers });
    }
    const part = range.kind === "partial" ? { offset: range.offset, length: range.length } : undefined;
    const object = await media.readMedia(d, row, part);
    if (!object) throw new DomainError("not-found", "No such media.");
    headers.set("Content-Type", row.content_type);
    if (range.kind === "partial") {
      headers.set("Content-Range", `bytes ${range.offset}-${range.offset + range.length - 1}/${row.bytes}`);
      headers.set("Content-Length", String(range.length));
      return new Response(object.body, { status: 206, headers });
    }
    headers.set("Content-Length", String(row.bytes));
    return new Response(object.body, { status: 200, headers });
  });
