/**
 * The gate's storage steps inside EventInventory (schema v3: tickets.redeemed_at and the scan tables;
 * v4: revoked devices): safe to re-run, whatever order other migration steps land in.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { migrateGate, migrateRevokedDevices } from "../../../durable-objects/event-inventory-gate";
import { configuredInventory } from "../events/helpers";

describe("EventInventory schema v3–v4 (gate)", () => {
  it("a new object is at v4 with the gate tables; running the gate steps again changes nothing", async () => {
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
    expect(result.version[0]?.version).toBe(4);
    expect(result.columns.filter((c) => c === "redeemed_at")).toEqual(["redeemed_at"]);
    expect(result.tables).toEqual(["gate_redemptions", "gate_revoked_devices", "gate_scans"]);
  });
});
