/** The bench's flags (each with an environment variable), --help, and their bounds. */
import { parseArgs } from "node:util";
import { BASELINE, SCENARIOS } from "./scenarios/index.mjs";
import { INVENTORY_ROUNDS } from "./scenarios/inventory.mjs";
import { ON_SALE_USERS } from "./scenarios/on-sale.mjs";
import { SCAN_DEVICES, SCAN_TICKETS, SCAN_WARMUP_TICKETS } from "./scenarios/scan.mjs";
import { WAITING_ROOM_RATE } from "./scenarios/waiting-room.mjs";

export function options() {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      connections: { type: "string", default: process.env.BENCH_CONNECTIONS ?? "50" },
      duration: { type: "string", default: process.env.BENCH_DURATION ?? "10" },
      warmup: { type: "string", default: process.env.BENCH_WARMUP ?? "2" },
      only: { type: "string", default: process.env.BENCH_ONLY ?? "" },
      "on-sale-users": { type: "string", default: process.env.BENCH_ON_SALE_USERS ?? String(ON_SALE_USERS) },
      "on-sale-capacity": { type: "string", default: process.env.BENCH_ON_SALE_CAPACITY ?? "auto" },
      "scan-tickets": { type: "string", default: process.env.BENCH_SCAN_TICKETS ?? String(SCAN_TICKETS) },
      "scan-devices": { type: "string", default: process.env.BENCH_SCAN_DEVICES ?? String(SCAN_DEVICES) },
      "inventory-rounds": {
        type: "string",
        default: process.env.BENCH_INVENTORY_ROUNDS ?? String(INVENTORY_ROUNDS),
      },
      "waiting-room-rate": {
        type: "string",
        default: process.env.BENCH_WAITING_ROOM_RATE ?? String(WAITING_ROOM_RATE),
      },
      profile: { type: "boolean", default: process.env.BENCH_PROFILE === "1" },
      control: { type: "boolean", default: process.env.BENCH_CONTROL !== "0" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run bench -- [--connections 50] [--duration 10] [--warmup 2] [--only a,b]" +
        ` [--on-sale-users ${ON_SALE_USERS}] [--on-sale-capacity auto|N]` +
        ` [--scan-tickets ${SCAN_TICKETS}] [--scan-devices ${SCAN_DEVICES}]` +
        ` [--inventory-rounds ${INVENTORY_ROUNDS}] [--waiting-room-rate ${WAITING_ROOM_RATE}] [--profile] [--no-control]`,
    );
    console.log(`scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`);
    process.exit(0);
  }
  const number = (name, min, max = Number.POSITIVE_INFINITY) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min || n > max) {
      usage(`--${name} must be a number ${max === Number.POSITIVE_INFINITY ? `>= ${min}` : `from ${min} to ${max}`}`);
    }
    return n;
  };
  const only = values.only
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0) usage(`unknown scenario(s): ${unknown.join(", ")}`);
  // The baseline always runs: a ratio against another run's ping would mix two machines' states.
  const wanted = new Set(only.length > 0 ? [BASELINE, ...only] : SCENARIOS.map((s) => s.name));
  return {
    connections: Math.floor(number("connections", 1)),
    duration: number("duration", 1),
    warmup: number("warmup", 0),
    // The fixture route's bounds.
    onSaleUsers: Math.floor(number("on-sale-users", 1, 50_000)),
    onSaleCapacity:
      values["on-sale-capacity"] === "auto" ? "auto" : Math.floor(number("on-sale-capacity", 1, 1_000_000)),
    // The gate fixture allows 20,000 tickets in all; the warm-up's share comes out of that.
    scanTickets: Math.floor(number("scan-tickets", 1, 20_000 - SCAN_WARMUP_TICKETS)),
    scanDevices: Math.floor(number("scan-devices", 1, 50)),
    inventoryRounds: Math.floor(number("inventory-rounds", 1, 10)),
    // Passes a second (the event setting's bounds); buyers arrive at 5× this.
    waitingRoomRate: Math.floor(number("waiting-room-rate", 1, 10_000)),
    profile: values.profile,
    control: values.control,
    scenarios: SCENARIOS.filter((s) => wanted.has(s.name)),
  };
}

function usage(message) {
  console.error(`bench: ${message} (see --help)`);
  process.exit(2);
}
