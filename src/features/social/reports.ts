/**
 * Moderation basics: anyone signed in reports a post, comment or user; an admin works the queue,
 * dismissing a report or removing what it is about.
 *
 * Decided here:
 * - A report is about something the reporter can name: a post or comment that exists and is not removed
 *   (404 otherwise), or an existing user other than the reporter (reporting oneself is 400). Reporting
 *   what one already reported, while that report is still open, answers the open report (200) and
 *   stores nothing; a new report answers 201. Both in one INSERT … SELECT … WHERE NOT EXISTS, so
 *   concurrent duplicates still store one row.
 * - A resolution is about the subject, not one report: it resolves every open report on that subject
 *   (`dismissed` or `removed`), so the queue never asks twice about something already decided.
 * - `remove` of a post or comment sets its removed_at: every read filters removed_at IS NULL, so it is
 *   hidden everywhere, and the triggers fix the counters. Its author gets a `removed` notification.
 * - `remove` of a user hides every post and comment of theirs (removed_at, as above; nothing is
 *   deleted, so an operator can undo it), resolves the open reports on them and on that content, and
 *   tells them once. The account itself stays: suspending accounts is not part of moderation yet.
 * - Each resolution is audited (`moderation.report-resolve`) in the same batch. Resolving an already
 *   resolved report the same way answers it as it is (a retried click); the other way is 409
 *   invalid-transition.
 */
import type { Config } from "../../config";
import { decodeCursor, encodeCursor, randomId } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { iso } from "../../lib/time";
import { type AuditEntry, auditStatement, type RequestMeta } from "../audit";
import { conditionalInsert } from "./notifications";
import type {
  AdminReport,
  AdminReportListQuery,
  Report,
  ReportBody,
  ReportSubject,
  ResolveBody,
} from "./schema-reports";
import { normalizeText } from "./text";

export interface ReportDeps {
  db: D1Database;
  config: Config;
  meta: RequestMeta;
  now?: number;
}

interface ReportRow {
  id: string;
  reporter_id: string;
  subject_kind: ReportSubject;
  post_id: string | null;
  comment_id: string | null;
  subject_user_id: string | null;
  reason: string;
  status: Report["status"];
  resolved_by: string | null;
  resolved_at: number | null;
  created_at: number;
}

interface AdminReportRow extends ReportRow {
  author_id: string | null;
  text: string | null;
  subject_removed_at: number | null;
  /** The post a reported comment belongs to. */
  comment_post_id: string | null;
}

const COLUMN: Record<ReportSubject, "post_id" | "comment_id" | "subject_user_id"> = {
  post: "post_id",
  comment: "comment_id",
  user: "subject_user_id",
};

/** The subject exists and may be reported (?1 = its id). */
const REPORTABLE: Record<ReportSubject, string> = {
  post: "EXISTS (SELECT 1 FROM posts WHERE id = ?1 AND removed_at IS NULL)",
  comment: `EXISTS (SELECT 1 FROM comments c JOIN posts p ON p.id = c.post_id
    WHERE c.id = ?1 AND c.removed_at IS NULL AND p.removed_at IS NULL)`,
  user: "EXISTS (SELECT 1 FROM users WHERE id = ?1)",
};

const subjectIdOf = (row: ReportRow) => row.post_id ?? row.comment_id ?? row.subject_user_id ?? "";

function toReport(row: ReportRow): Report {
  return {
    id: row.id,
    subjectKind: row.subject_kind,
    subjectId: subjectIdOf(row),
    reason: row.reason,
    status: row.status,
    createdAt: iso(row.created_at) as string,
    resolvedAt: iso(row.resolved_at),
  };
}

function toAdminReport(row: AdminReportRow): AdminReport {
  return {
    ...toReport(row),
    reporterId: row.reporter_id,
    resolvedBy: row.resolved_by,
    subject: { authorId: row.author_id, text: row.text, removedAt: iso(row.subject_removed_at) },
  };
}

/** Files a report, or finds the reporter's open one on the same subject (`created` false). */
export async function createReport(
  deps: ReportDeps,
  reporterId: string,
  body: ReportBody,
): Promise<{ report: Report; created: boolean }> {
  if (body.subjectKind === "user" && body.subjectId === reporterId) {
    throw new DomainError("validation-failed", "You cannot report yourself.", {
      errors: [{ path: "subjectId", message: "that is you" }],
    });
  }
  const now = deps.now ?? Date.now();
  const column = COLUMN[body.subjectKind];
  const open = `SELECT * FROM reports WHERE reporter_id = ?2 AND ${column} = ?1 AND status = 'open'`;
  const [inserted, found] = await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO reports (id, reporter_id, subject_kind, ${column}, reason, status, created_at)
         SELECT ?3, ?2, ?4, ?1, ?5, 'open', ?6
         WHERE ${REPORTABLE[body.subjectKind]} AND NOT EXISTS (${open})`,
      )
      .bind(body.subjectId, reporterId, randomId(), body.subjectKind, normalizeText(body.reason), now),
    deps.db.prepare(`${open} ORDER BY created_at, id LIMIT 1`).bind(body.subjectId, reporterId),
  ]);
  const row = (found?.results as ReportRow[] | undefined)?.[0];
  if (!row) throw new DomainError("not-found", `No such ${body.subjectKind}.`);
  return { report: toReport(row), created: inserted?.meta.changes === 1 };
}

const ADMIN_SELECT = `SELECT r.*, COALESCE(p.author_id, c.author_id, r.subject_user_id) AS author_id,
    COALESCE(p.text, c.text) AS text, COALESCE(p.removed_at, c.removed_at) AS subject_removed_at,
    c.post_id AS comment_post_id
  FROM reports r LEFT JOIN posts p ON p.id = r.post_id LEFT JOIN comments c ON c.id = r.comment_id`;

const pageCursor = (row: ReportRow) => encodeCursor(JSON.stringify([row.created_at, row.id]));

function readPageCursor(raw: string): [number, string] {
  try {
    const value = JSON.parse(decodeCursor(raw) ?? "null") as unknown;
    if (Array.isArray(value) && typeof value[0] === "number" && typeof value[1] === "string") {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw invalidCursorError();
}

/** The queue, oldest first (first reported, first looked at), with what each report is about as it is now. */
export async function listReports(
  db: D1Database,
  query: AdminReportListQuery,
): Promise<{ items: AdminReport[]; nextCursor: string | null }> {
  const where: string[] = [];
  const bindings: unknown[] = [];
  if (query.status !== "all") {
    where.push("r.status = ?");
    bindings.push(query.status);
  }
  if (query.cursor) {
    const [createdAt, id] = readPageCursor(query.cursor);
    where.push("(r.created_at > ? OR (r.created_at = ? AND r.id > ?))");
    bindings.push(createdAt, createdAt, id);
  }
  const { results } = await db
    .prepare(
      `${ADMIN_SELECT} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY r.created_at, r.id LIMIT ?`,
    )
    .bind(...bindings, query.limit + 1)
    .all<AdminReportRow>();
  const page = results.slice(0, query.limit);
  const last = page[page.length - 1];
  return { items: page.map(toAdminReport), nextCursor: results.length > query.limit && last ? pageCursor(last) : null };
}

async function adminReport(db: D1Database, id: string): Promise<AdminReportRow | null> {
  return db.prepare(`${ADMIN_SELECT} WHERE r.id = ?`).bind(id).first<AdminReportRow>();
}

/** Dismisses a report, or removes what it is about; either way every open report on the subject is resolved. */
export async function resolveReport(
  deps: ReportDeps,
  adminId: string,
  reportId: string,
  { action }: ResolveBody,
): Promise<AdminReport> {
  const row = await adminReport(deps.db, reportId);
  if (!row) throw new DomainError("not-found", "No report with this id.");
  const status = action === "dismiss" ? "dismissed" : "removed";
  if (row.status !== "open") {
    if (row.status === status) return toAdminReport(row);
    throw new DomainError("invalid-transition", `This report was already resolved (${row.status}).`);
  }
  const db = deps.db;
  const at = deps.now ?? Date.now();
  const kind = row.subject_kind;
  const subjectId = subjectIdOf(row);
  // Everything after the first statement happens only if this resolution claimed the report.
  const claimed = {
    sql: "EXISTS (SELECT 1 FROM reports WHERE id = ? AND status = ? AND resolved_by = ? AND resolved_at = ?)",
    bindings: [reportId, status, adminId, at],
  };
  const resolve = (where: string, ...bindings: unknown[]) =>
    db
      .prepare(
        `UPDATE reports SET status = ?, resolved_by = ?, resolved_at = ?
         WHERE status = 'open' AND (${where}) AND ${claimed.sql}`,
      )
      .bind(status, adminId, at, ...bindings, ...claimed.bindings);

  const statements: D1PreparedStatement[] = [
    db
      .prepare("UPDATE reports SET status = ?, resolved_by = ?, resolved_at = ? WHERE id = ? AND status = 'open'")
      .bind(status, adminId, at, reportId),
    resolve(`${COLUMN[kind]} = ?`, subjectId),
  ];
  if (action === "remove") statements.push(...removal(db, row, at, claimed, resolve));
  const entry: AuditEntry = {
    action: "moderation.report-resolve",
    outcome: "success",
    userId: adminId,
    detail: { reportId, action, subjectKind: kind, subjectId, authorId: row.author_id },
  };
  statements.push(await auditStatement(db, deps.config, deps.meta, entry, at, claimed));
  const [first] = await db.batch(statements);
  const after = await adminReport(db, reportId);
  if (!after) throw new DomainError("not-found", "No report with this id.");
  // A concurrent resolution committed first: answer as above, from what it decided.
  if (first?.meta.changes !== 1 && after.status !== status) {
    throw new DomainError("invalid-transition", `This report was already resolved (${after.status}).`);
  }
  return toAdminReport(after);
}

/** What `remove` changes besides the reports on the subject: the content, and the author's notice. */
function removal(
  db: D1Database,
  row: AdminReportRow,
  at: number,
  claimed: { sql: string; bindings: unknown[] },
  resolve: (where: string, ...bindings: unknown[]) => D1PreparedStatement,
): D1PreparedStatement[] {
  const when = (sql: string, ...bindings: unknown[]) =>
    db.prepare(`${sql} AND ${claimed.sql}`).bind(at, ...bindings, ...claimed.bindings);
  // The followers' feeds move once per removal (migration 0027: the posts' trigger moves the author's
  // only), whether it takes down one post or a whole history. Harmless when nothing was removed.
  const followersFeeds = (authorId: string) =>
    db
      .prepare(
        `UPDATE profiles SET feed_version = feed_version + 1
         WHERE user_id IN (SELECT follower_id FROM follows WHERE followee_id = ?) AND ${claimed.sql}`,
      )
      .bind(authorId, ...claimed.bindings);
  if (row.subject_kind === "user" && row.subject_user_id) {
    const userId = row.subject_user_id;
    return [
      when("UPDATE posts SET removed_at = ? WHERE author_id = ? AND removed_at IS NULL", userId),
      followersFeeds(userId),
      when("UPDATE comments SET removed_at = ? WHERE author_id = ? AND removed_at IS NULL", userId),
      resolve(
        `post_id IN (SELECT id FROM posts WHERE author_id = ?) OR comment_id IN (SELECT id FROM comments WHERE author_id = ?)`,
        userId,
        userId,
      ),
      conditionalInsert(db, { recipientId: userId, actorId: null, kind: "removed", at }, claimed),
    ];
  }
  const table = row.subject_kind === "post" ? "posts" : "comments";
  const id = row.post_id ?? row.comment_id;
  const statements = [when(`UPDATE ${table} SET removed_at = ? WHERE id = ? AND removed_at IS NULL`, id)];
  if (row.subject_kind === "post" && row.author_id) statements.push(followersFeeds(row.author_id));
  if (row.author_id) {
    statements.push(
      conditionalInsert(
        db,
        {
          recipientId: row.author_id,
          actorId: null,
          kind: "removed",
          postId: row.post_id ?? row.comment_post_id,
          commentId: row.comment_id,
          at,
        },
        claimed,
      ),
    );
  }
  return statements;
}
