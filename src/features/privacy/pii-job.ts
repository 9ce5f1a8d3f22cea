/**
 * The PII job: moves every sealed column to the current key. One job does both of its duties:
 * - the migration: rows written before field encryption hold personal fields in plain text (and users
 *   no email index); the job seals them and fills the index;
 * - the rotation: after a new key is put first in PII_KEYS, rows sealed under an older one are opened
 *   and sealed again under the new one. The old key may leave PII_KEYS once `remaining` is 0
 *   everywhere (docs/privacy.md, "Rotating keys").
 *
 * The state is the data itself: a row needs work while its value does not start with the current
 * key's prefix (`pii1.<kid>.`), so the job resumes wherever it stopped, after a crash, a deploy or a
 * second rotation, and two runs at once only race on rows, each update being conditional on the value
 * it read. It runs in bounded chunks from the five-minute cron (queues/scheduled.ts) and on demand
 * (POST /api/v1/admin/pii/reseal), and reports what it did and what is left per column.
 *
 * Finding stale values reads a whole column (no index serves "does not start with this prefix"), so the
 * cron does it only while there is work: once a run finds nothing to seal, it marks the key clean
 * (`job_marks`) and later runs skip until the key changes or LIMITS.piiJobRecheckMs has passed. The
 * counts of what is left are taken on demand (the admin routes), never by the cron.
 */
import { LIMITS } from "../../config/limits";
import type { PiiCipher } from "../../lib/pii";
import { emailIndex, USER_EMAIL_CONTEXT, USER_NAME_CONTEXT } from "../auth";
import { OUTBOX_CONTEXT } from "../email";
import { TIP_GUEST_EMAIL, TIP_MESSAGE } from "../money";
import { STRIPE_PAYLOAD_CONTEXT } from "../payments";
import { WEBHOOK_SECRET_CONTEXT } from "../webhooks";

export interface SealedColumn {
  table: string;
  /** The row's key column (a rowid alias or the primary key). */
  key: string;
  column: string;
  /** The additional data the column's values are sealed under (src/lib/pii.ts). */
  context: string;
  /** A blind index kept beside the column, filled from the opened value. */
  index?: { column: string; of: (pii: PiiCipher, plain: string) => string };
}

/** Every personal column stored sealed. docs/privacy.md lists the same. */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    table: "users",
    key: "id",
    column: "email",
    context: USER_EMAIL_CONTEXT,
    index: { column: "email_index", of: emailIndex },
  },
  { table: "users", key: "id", column: "name", context: USER_NAME_CONTEXT },
  { table: "email_outbox", key: "id", column: "to", context: OUTBOX_CONTEXT.to },
  { table: "email_outbox", key: "id", column: "subject", context: OUTBOX_CONTEXT.subject },
  { table: "email_outbox", key: "id", column: "text", context: OUTBOX_CONTEXT.text },
  { table: "email_outbox", key: "id", column: "html", context: OUTBOX_CONTEXT.html },
  { table: "tips", key: "id", column: "guest_email", context: TIP_GUEST_EMAIL },
  { table: "tips", key: "id", column: "message", context: TIP_MESSAGE },
  { table: "stripe_events", key: "id", column: "payload", context: STRIPE_PAYLOAD_CONTEXT },
  // Not personal, but a copy of D1 must not be able to sign webhooks in a host's name either.
  { table: "webhook_endpoints", key: "id", column: "secret", context: WEBHOOK_SECRET_CONTEXT },
  { table: "webhook_endpoints", key: "id", column: "previous_secret", context: WEBHOOK_SECRET_CONTEXT },
];

export interface ColumnProgress {
  /** `table.column`. */
  column: string;
  resealed: number;
  /** Values that could not be opened (a retired key, a damaged value): left as they are, and logged. */
  failed: number;
  /** Values still to seal (counted: a full read of the column). */
  remaining: number;
}

export interface PiiJobReport {
  kid: string;
  columns: ColumnProgress[];
  done: boolean;
}

/**
 * The cron's run: what it sealed per column, and `done` when no chunk found a value it could seal;
 * or skipped while the current key is marked clean and the recheck is not due.
 */
export type PiiSweepReport =
  | { kid: string; columns: Omit<ColumnProgress, "remaining">[]; done: boolean }
  | { kid: string; skipped: "clean"; checkedAt: number };

/** `"col"`, quoted for SQL (a column may be a keyword: `"to"`). */
const q = (name: string) => `"${name}"`;

/** SQL condition: the value is present and not sealed under the current key (`?1` length, `?2` prefix). */
function stale(column: string): string {
  return `${q(column)} IS NOT NULL AND substr(${q(column)}, 1, ?1) <> ?2`;
}

async function remaining(db: D1Database, col: SealedColumn, prefix: string): Promise<number> {
  const row = await db
    .prepare(`SELECT COUNT(*) AS n FROM ${col.table} WHERE ${stale(col.column)}`)
    .bind(prefix.length, prefix)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** One chunk of one column: reseals up to `limit` rows; returns what it did. */
async function resealChunk(
  db: D1Database,
  pii: PiiCipher,
  col: SealedColumn,
  prefix: string,
  limit: number,
  skip: ReadonlySet<string>,
): Promise<{ resealed: number; failed: string[]; read: number }> {
  const { results } = await db
    .prepare(
      `SELECT ${q(col.key)} AS k, ${q(col.column)} AS v FROM ${col.table} WHERE ${stale(col.column)}
       ${skip.size ? `AND ${q(col.key)} NOT IN (${[...skip].map((_, i) => `?${i + 4}`).join(", ")})` : ""} LIMIT ?3`,
    )
    .bind(prefix.length, prefix, limit, ...skip)
    .all<{ k: string; v: string }>();
  const statements: D1PreparedStatement[] = [];
  const failed: string[] = [];
  for (const { k, v } of results) {
    let plain: string;
    try {
      plain = pii.open(v, col.context);
    } catch {
      failed.push(k);
      continue;
    }
    const sealed = pii.seal(plain, col.context);
    // Only if the value is still the one read: a concurrent writer's newer value is never overwritten.
    statements.push(
      col.index
        ? db
            .prepare(
              `UPDATE ${col.table} SET ${q(col.column)} = ?, ${q(col.index.column)} = ? WHERE ${q(col.key)} = ? AND ${q(col.column)} = ?`,
            )
            .bind(sealed, col.index.of(pii, plain), k, v)
        : db
            .prepare(`UPDATE ${col.table} SET ${q(col.column)} = ? WHERE ${q(col.key)} = ? AND ${q(col.column)} = ?`)
            .bind(sealed, k, v),
    );
  }
  const changes = statements.length ? (await db.batch(statements)).reduce((n, r) => n + r.meta.changes, 0) : 0;
  return { resealed: changes, failed, read: results.length };
}

export interface PiiJobOptions {
  /** Rows per chunk (one SELECT and one batch of UPDATEs). */
  batchRows?: number;
  /** Chunks per column and run; 0 only reports progress. */
  maxBatches?: number;
}

/**
 * Reseals up to the options' bound per column. `idle` when no chunk found a value it could seal (the
 * unopenable ones are logged and left to an operator: reading them again every run would not help).
 */
async function resealColumns(db: D1Database, pii: PiiCipher, prefix: string, options: PiiJobOptions) {
  const batchRows = options.batchRows ?? LIMITS.piiJobBatchRows;
  const maxBatches = options.maxBatches ?? LIMITS.piiJobMaxBatches;
  const columns: (Omit<ColumnProgress, "remaining"> & { of: SealedColumn })[] = [];
  let idle = true;
  for (const col of SEALED_COLUMNS) {
    let resealed = 0;
    // Rows that would not open stay behind; the next chunk must not pick them again.
    const failed = new Set<string>();
    for (let batch = 0; batch < maxBatches; batch += 1) {
      const chunk = await resealChunk(db, pii, col, prefix, batchRows, failed);
      resealed += chunk.resealed;
      for (const key of chunk.failed) failed.add(key);
      if (chunk.read > chunk.failed.length) idle = false;
      if (chunk.read < batchRows || failed.size > batchRows) break;
    }
    columns.push({ column: `${col.table}.${col.column}`, resealed, failed: failed.size, of: col });
  }
  return { columns, idle: idle && maxBatches > 0 };
}

/** Runs the job for a bounded amount of work and reports per column, with what is left (counted). */
export async function runPiiJob(db: D1Database, pii: PiiCipher, options: PiiJobOptions = {}): Promise<PiiJobReport> {
  const prefix = `pii1.${pii.currentKid}.`;
  const { columns } = await resealColumns(db, pii, prefix, options);
  const counted: ColumnProgress[] = [];
  for (const { of, ...progress } of columns) counted.push({ ...progress, remaining: await remaining(db, of, prefix) });
  return { kid: pii.currentKid, columns: counted, done: counted.every((c) => c.remaining === 0) };
}

const CLEAN_MARK = "pii-clean";

/**
 * The five-minute cron's run: the job without counts, skipped while the current key is marked clean
 * and checked within LIMITS.piiJobRecheckMs; a run that finds nothing to seal marks it clean.
 */
export async function piiSweep(
  db: D1Database,
  pii: PiiCipher,
  now: number,
  options: PiiJobOptions = {},
): Promise<PiiSweepReport> {
  const mark = await db
    .prepare("SELECT value, at FROM job_marks WHERE name = ?")
    .bind(CLEAN_MARK)
    .first<{ value: string; at: number }>();
  if (mark?.value === pii.currentKid && now - mark.at < LIMITS.piiJobRecheckMs) {
    return { kid: pii.currentKid, skipped: "clean", checkedAt: mark.at };
  }
  const { columns, idle } = await resealColumns(db, pii, `pii1.${pii.currentKid}.`, options);
  if (idle) {
    await db
      .prepare(
        "INSERT INTO job_marks (name, value, at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET value = ?2, at = ?3",
      )
      .bind(CLEAN_MARK, pii.currentKid, now)
      .run();
  }
  return { kid: pii.currentKid, columns: columns.map(({ of: _, ...progress }) => progress), done: idle };
}
