/**
 * D1 reads on hot paths find their rows through an index: a full scan costs every row of the table on
 * each call (D1 bills rows read, and its one writer waits behind the scan), a cost that grows with
 * every ticket ever sold.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

async function plan(sql: string, ...bindings: unknown[]): Promise<string> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...bindings)
    .all<{ detail: string }>();
  return results.map((row) => row.detail).join("\n");
}

describe("query plans", () => {
  it("an order's tickets (each pushed order's webhook, the order page) come from tickets_order, in serial order", async () => {
    // The reads of src/features/webhooks/outbox.ts (eventWebhookStatement) and src/features/orders/service.ts.
    for (const sql of [
      "SELECT id FROM tickets WHERE order_id = ? ORDER BY serial",
      "SELECT id, event_id, serial, status FROM tickets WHERE order_id = ? ORDER BY serial",
    ]) {
      const detail = await plan(sql, "order-1");
      expect(detail, sql).toMatch(/SEARCH tickets USING (COVERING )?INDEX tickets_order \(order_id=\?\)/);
      // Already in serial order: no sort step.
      expect(detail, sql).not.toMatch(/TEMP B-TREE/);
    }
  });
});
