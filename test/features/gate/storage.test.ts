/**
 * Storage steps inside EventInventory (schema v3: tickets.redeemed_at and the scan tables; v4:
 * revoked devices; v5: trigger-kept ticket counts; v6: refunding tickets counted as sold, see
 * test/durable-objects/event-inventory-refunds.test.ts): safe to re-run, whatever order other migration
 * steps land in.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  LATEST_SCHEMA_VERSION,
  migrateGate,
  migrateRevokedDevices,
  migrateTicketCounts,
} from "../../../durable-objects/event-inventory/schema";
import { configuredInventory } from "../events/helpers";

describe("EventInventory schema v3–v6", () => {
  it("a new object is at the latest version with the gate tables; running the gate steps again changes nothing", async () => {
    const { stub } = await configuredInventory();
    const result = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const version = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray();
      migrateGate(sql);
      migrateGate(sql);
      migrateRevokedDevices(sql);
      const columns = sql
        .exec<{ name: string }>("PRAGMA table_info(tickets)")
        .toArray()
        .map((c) => c.name);
      const tables = sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'gate_%' ORDER BY name",
        )
        .toArray()
        .map((t) => t.name);
      return { version, columns, tables };
    });
    expect(result.version.length).toBe(1);
    expect(LATEST_SCHEMA_VERSION).toBeGreaterThanOrEqual(6);
    expect(result.version[0]?.version).toBe(LATEST_SCHEMA_VERSION);
    expect(result.columns.filter((c) => c === "redeemed_at")).toEqual(["redeemed_at"]);
    expect(result.tables).toEqual(["gate_redemptions", "gate_revoked_devices", "gate_scans"]);
  });

  it("v5 starts the ticket counts from the tickets an older object already has, then keeps them on every change", async () => {
    const { stub } = await configuredInventory();
    const result = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      // An object from before v5: tickets in every status, no counts table, no triggers.
      sql.exec("DROP TRIGGER ticket_counts_insert");
      sql.exec("DROP TRIGGER ticket_counts_update");
      sql.exec("DROP TRIGGER ticket_counts_delete");
      sql.exec("DROP TABLE ticket_counts");
      const statuses = ["active", "active", "redeemed", "void", "refunded", "active"];
      for (const [i, status] of statuses.entries()) {
        sql.exec(
          "INSERT INTO tickets (id, order_id, user_id, serial, status, created_at, updated_at) VALUES (?, 'o', 'u', ?, ?, 0, 0)",
          `t${i}`,
          1000 + i,
          status,
        );
      }
      migrateTicketCounts(sql);
      migrateTicketCounts(sql);
      const counts = () =>
        sql.exec<{ sold: number; checked_in: number }>("SELECT sold, checked_in FROM ticket_counts").one();
      const started = counts();
      sql.exec("UPDATE tickets SET status = 'redeemed' WHERE id = 't0'");
      sql.exec("UPDATE tickets SET status = 'void' WHERE id = 't2'");
      sql.exec("UPDATE tickets SET updated_at = 5 WHERE id = 't1'");
      sql.exec("DELETE FROM tickets WHERE id = 't5'");
      sql.exec(
        "INSERT INTO tickets (id, order_id, user_id, serial, status, created_at, updated_at) VALUES ('t9', 'o', 'u', 2000, 'redeemed', 0, 0)",
      );
      return { started, after: counts() };
    });
    expect(result.started).toEqual({ sold: 4, checked_in: 1 });
    // t0 redeemed (+1 in), t2 voided (−1 sold, −1 in), t5 deleted (−1 sold), t9 inserted redeemed (+1, +1 in).
    expect(result.after).toEqual({ sold: 3, checked_in: 2 });
  });
});
