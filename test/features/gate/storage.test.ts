/**
 * The gate's storage step inside EventInventory (schema v3): it adds tickets.redeemed_at and the
 * scan tables, and is safe to re-run, whatever order other migration steps land in.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { migrateGate } from "../../../durable-objects/event-inventory-gate";
import { configuredInventory } from "../events/helpers";

describe("EventInventory schema v3 (gate)", () => {
  it("a new object is at v3 with the gate tables; running the gate step again changes nothing", async () => {
    const { stub } = await configuredInventory();
    const result = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const version = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray();
      migrateGate(sql);
      migrateGate(sql);
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
    expect(result.version[0]?.version).toBeGreaterThanOrEqual(3);
    expect(result.columns.filter((c) => c === "redeemed_at")).toEqual(["redeemed_at"]);
    expect(result.tables).toEqual(["gate_redemptions", "gate_scans"]);
  });
});
