/**
 * Gate schemas (zod + OpenAPI). Device create takes only `name` and `role`: the event comes from the
 * path, the id and token from the server, the creator from the session (mass-assignment defence).
 */
import { z } from "@hono/zod-openapi";
import { SCAN_RESULTS } from "../../../durable-objects/event-inventory/contract";
import { LIMITS } from "../../config/limits";

export const DEVICE_ROLES = ["steward", "supervisor"] as const;

export const EventIdParam = z.object({ id: z.string().min(1).max(64) });
export const DeviceParams = z.object({ id: z.string().min(1).max(64), deviceId: z.string().min(1).max(64) });
export const TicketIdParam = z.object({ id: z.string().min(1).max(64) });

export const CreateDeviceBody = z
  .object({
    name: z.string().trim().min(1).max(80).openapi({ example: "North gate 1" }),
    role: z.enum(DEVICE_ROLES).openapi({ description: "steward: scan; supervisor: scan and watch live counts" }),
  })
  .strict()
  .openapi("CreateDevice");

export const CreatedDeviceSchema = z
  .object({
    deviceId: z.string(),
    token: z.string().openapi({ description: "Shown once. Send as `Authorization: Device <token>`." }),
    eventId: z.string(),
    name: z.string(),
    role: z.enum(DEVICE_ROLES),
    createdAt: z.string(),
  })
  .openapi("CreatedDevice");

export const DeviceSchema = z
  .object({
    deviceId: z.string(),
    name: z.string(),
    role: z.enum(DEVICE_ROLES),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .openapi("Device");

/** A scan's id on the device: retries with the same nonce get the same answer. */
const nonce = z
  .string()
  .regex(/^[A-Za-z0-9_-]{8,64}$/, "8–64 characters of A–Z, a–z, 0–9, _ and -")
  .openapi({ example: "8f14e45f-ceea-467e-9e4e-5bd9b7c1a2f0" });
const token = z.string().min(1).max(LIMITS.ticketTokenMaxChars);

export const ScanBody = z.object({ token, nonce }).strict().openapi("Scan");

const ScanResultSchema = z.enum(SCAN_RESULTS);
const ScanOf = z.object({ at: z.string(), deviceId: z.string(), deviceName: z.string().nullable() });

export const ScanAnswerSchema = z
  .object({
    result: ScanResultSchema,
    nonce: z.string(),
    scannedAt: z.string(),
    ticket: z.object({ id: z.string(), serial: z.number().int(), status: z.string() }).optional(),
    firstScan: ScanOf.optional().openapi({ description: "The admission that counts" }),
    repeat: z.boolean().optional().openapi({ description: "Same device, same ticket, within 10 s: same admission" }),
    replayed: z.boolean().optional().openapi({ description: "This nonce was answered before; nothing changed" }),
    conflict: z
      .boolean()
      .optional()
      .openapi({ description: "Admitted more than once, or admitted and refunded or voided (offline)" }),
    conflictWith: ScanOf.optional(),
  })
  .openapi("ScanAnswer");

export const OfflineScansBody = z
  .object({
    scans: z
      .array(
        z
          .object({
            token,
            nonce,
            scannedAt: z.iso.datetime({ offset: true }).openapi({ description: "The device's clock" }),
            deviceResult: ScanResultSchema.default("admitted").openapi({
              description: "What the device decided offline; only admissions change state",
            }),
          })
          .strict(),
      )
      .min(1)
      .max(LIMITS.gateOfflineBatchMax)
      .refine((scans) => new Set(scans.map((s) => s.nonce)).size === scans.length, "nonces must be unique"),
  })
  .strict()
  .openapi("OfflineScans");

export const OfflineResultsSchema = z
  .object({
    results: z.array(ScanAnswerSchema),
    conflicts: z.number().int().openapi({
      description: "Scans in this upload that are part of a double admission or admitted a refunded or void ticket",
    }),
  })
  .openapi("OfflineScanResults");

export const JwksSchema = z
  .object({
    keys: z.array(
      z.object({
        kty: z.literal("OKP"),
        crv: z.literal("Ed25519"),
        x: z.string(),
        kid: z.string(),
        alg: z.literal("EdDSA"),
        use: z.literal("sig"),
      }),
    ),
  })
  .openapi("TicketJwks");

export const ManifestQuery = z.object({
  cursor: z
    .string()
    .regex(/^\d{1,9}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.gateManifestPageMax).default(LIMITS.gateManifestPage),
});

export const ManifestSchema = z
  .object({
    eventId: z.string(),
    eventRef: z.string().openapi({ description: "Bytes 17–24 of a token's payload for this event, base64url" }),
    eventStatus: z.string().nullable(),
    checkIn: z.object({ opensAt: z.string().nullable(), closesAt: z.string().nullable() }),
    generatedAt: z.string(),
    keys: JwksSchema,
    tickets: z.array(
      z.object({ id: z.string(), serial: z.number().int(), status: z.string(), redeemedAt: z.string().nullable() }),
    ),
    nextCursor: z.string().nullable(),
  })
  .openapi("GateManifest");

export const GateStatsSchema = z
  .object({
    capacity: z.number().int(),
    sold: z.number().int(),
    held: z.number().int(),
    remaining: z.number().int(),
    checkedIn: z.number().int(),
    conflicts: z.number().int(),
    scans: z.number().int(),
    offlineScans: z.number().int(),
    byResult: z.record(z.string(), z.number().int()),
  })
  .openapi("GateStats");

export const QrQuery = z.object({ format: z.enum(["json", "svg"]).default("json") });

export const QrSchema = z
  .object({
    token: z.string().openapi({ description: "Signed entry token (compact JWS, ≤ 200 characters); render as QR" }),
    ticketId: z.string(),
    issuedAt: z.string(),
    expiresAt: z.string(),
  })
  .openapi("TicketQr");
