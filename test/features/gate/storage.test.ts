/**
 * Storage steps inside EventInventory (schema v3: tickets.redeemed_at and the scan tables; v4:
 * revoked devices; v5: trigger-kept ticket counts; v6: refunding tickets counted as sold, see
 * test/durable-objects/event-inventory-refunds.test.ts; v11: the indexes a sale writes; v12: seats
 * counted from the highest serial): safe to re-run, whatever order other migration steps land in.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  LATEST_SCHEMA_VERSION,
  migrateGate,
  migrateRevokedDevices,
  migrateSeatCounts,
  migrateTicketCounts,
} from "../../../durable-objects/event-inventory/schema";
import { beforeSeatCounts, configuredInventory, holdRequest } from "../events/helpers";

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
      beforeSeatCounts(sql);
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

describe("EventInventory schema v11–v12 (what a sale writes)", () => {
  it("v11: tickets have no index by status or user, and holds one partial index of open holds", async () => {
    const { stub } = await configuredInventory();
    const indexes = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const named = (table: string) =>
        sql
          .exec<{ name: string; partial: number }>(`PRAGMA index_list(${table})`)
          .toArray()
          .filter((i) => !i.name.startsWith("sqlite_autoindex"))
          .map((i) => `${i.name}${i.partial ? " (partial)" : ""}`)
          .sort();
      return { tickets: named("tickets"), orders: named("orders") };
    });
    expect(indexes).toEqual({
      tickets: ["tickets_order"],
      orders: ["orders_open_holds (partial)", "orders_user"],
    });
  });

  it("v12: an older object's seats are counted from its tickets, its numbering goes on, and a ticket cannot be deleted", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 20 });
    const result = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      beforeSeatCounts(sql);
      // Serials 1–6 in every status, numbered by the counter as before v12.
      const statuses = ["active", "redeemed", "void", "refunded", "refunding", "active"];
      for (const [i, status] of statuses.entries()) {
        sql.exec(
          "INSERT INTO tickets (id, order_id, user_id, serial, status, created_at, updated_at) VALUES (?, 'o', 'u', ?, ?, 0, 0)",
          `t${i}`,
          i + 1,
          status,
        );
      }
      sql.exec("UPDATE counters SET next_serial = 7 WHERE id = 1");
      const before = sql.exec<{ sold: number; checked_in: number }>("SELECT sold, checked_in FROM ticket_counts").one();
      migrateSeatCounts(sql);
      migrateSeatCounts(sql);
      const tables = sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE name LIKE 'ticket_counts%' OR name = 'seat_counts'",
        )
        .toArray()
        .map((r) => r.name);
      let deleteRefused = "";
      try {
        sql.exec("DELETE FROM tickets WHERE id = 't0'");
      } catch (error) {
        deleteRefused = String(error);
      }
      sql.exec("UPDATE schema_version SET version = ?", LATEST_SCHEMA_VERSION);
      return { before, tables, deleteRefused };
    });
    expect(result.before).toEqual({ sold: 4, checked_in: 1 });
    expect(result.tables).toEqual(["seat_counts"]);
    expect(result.deleteRefused).toContain("tickets are never deleted");
    expect(await stub.stats()).toMatchObject({ sold: 4, checkedIn: 1, remaining: 16 });

    // The next sale is numbered after the highest serial and counted without a count row of its own.
    const sale = await stub.claim(holdRequest(snapshot, "u-new", 2));
    if (!sale.ok) throw new Error(sale.code);
    expect(sale.value.tickets.map((t) => t.serial)).toEqual([7, 8]);
    expect(await stub.stats()).toMatchObject({ sold: 6, checkedIn: 1, remaining: 14 });
    const counts = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("SELECT unsold, checked_in FROM seat_counts").toArray(),
    );
    // Tickets 3 and 4 (void, refunded) hold no seat; the sale changed neither count.
    expect(counts).toEqual([{ unsold: 2, checked_in: 1 }]);
  });

  it("v12 counts a gap in an older object's serials as unsold: its sold count is what it was", async () => {
    const { stub } = await configuredInventory({ capacity: 20 });
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      beforeSeatCounts(sql);
      for (const serial of [1, 2, 5]) {
        sql.exec(
          "INSERT INTO tickets (id, order_id, user_id, serial, status, created_at, updated_at) VALUES (?, 'o', 'u', ?, 'active', 0, 0)",
          `t${serial}`,
          serial,
        );
      }
      migrateSeatCounts(sql);
      sql.exec("UPDATE schema_version SET version = ?", LATEST_SCHEMA_VERSION);
    });
    expect(await stub.stats()).toMatchObject({ sold: 3, remaining: 17 });
  });
});
