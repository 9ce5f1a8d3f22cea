/**
 * zod schemas of the moderation routes: a user reports a post, comment or user (POST /reports); an
 * admin lists the queue and resolves a report (/admin/reports…). A reason is checked after
 * normalisation (text.ts), so the limit is on what is stored and shown.
 */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { normalizeText, textLength } from "./text";

/** A report's reason holds at most this many characters (code points, after normalisation). */
export const REASON_MAX_CHARS = 500;

export const REPORT_SUBJECTS = ["post", "comment", "user"] as const;
export type ReportSubject = (typeof REPORT_SUBJECTS)[number];
export const REPORT_STATUSES = ["open", "dismissed", "removed"] as const;

export const ReportBody = z
  .object({
    subjectKind: z.enum(REPORT_SUBJECTS),
    subjectId: z.string().min(1).max(64),
    reason: z
      .string()
      // Bounds the work normalisation does on an absurd body; the real limit follows.
      .max(REASON_MAX_CHARS * 4)
      .refine((reason) => {
        const length = textLength(normalizeText(reason));
        return length >= 1 && length <= REASON_MAX_CHARS;
      }, `1 to ${REASON_MAX_CHARS} characters`)
      .openapi({ description: `Plain text, 1 to ${REASON_MAX_CHARS} characters`, example: "Spam" }),
  })
  .strict()
  .openapi("ReportBody");
export type ReportBody = z.infer<typeof ReportBody>;

export const ReportSchema = z
  .object({
    id: z.string(),
    subjectKind: z.enum(REPORT_SUBJECTS),
    subjectId: z.string(),
    reason: z.string(),
    status: z.enum(REPORT_STATUSES).openapi({
      description: "open; dismissed (nothing done); removed (the content was removed)",
    }),
    createdAt: z.iso.datetime(),
    resolvedAt: z.iso.datetime().nullable(),
  })
  .openapi("Report");
export type Report = z.infer<typeof ReportSchema>;

export const AdminReportSchema = ReportSchema.extend({
  reporterId: z.string(),
  resolvedBy: z.string().nullable(),
  subject: z
    .object({
      authorId: z.string().nullable().openapi({ description: "Who wrote the post or comment (the user, for a user)" }),
      text: z.string().nullable().openapi({ description: "The post's or comment's text; null for a user" }),
      removedAt: z.iso.datetime().nullable(),
    })
    .openapi({ description: "What was reported, as it is now" }),
}).openapi("AdminReport");
export type AdminReport = z.infer<typeof AdminReportSchema>;

export const AdminReportListSchema = z
  .object({ items: z.array(AdminReportSchema), nextCursor: z.string().nullable() })
  .openapi("AdminReportList");

export const AdminReportListQuery = z.object({
  status: z.enum([...REPORT_STATUSES, "all"]).default("open"),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(50),
  cursor: z.string().max(200).optional(),
});
export type AdminReportListQuery = z.infer<typeof AdminReportListQuery>;

export const ResolveBody = z
  .object({
    action: z.enum(["dismiss", "remove"]).openapi({
      description:
        "dismiss: nothing is done. remove: a post or comment is hidden everywhere and its author told; for a user, every post and comment of theirs is",
    }),
  })
  .strict()
  .openapi("ResolveReport");
export type ResolveBody = z.infer<typeof ResolveBody>;
