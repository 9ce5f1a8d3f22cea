import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  // One file per feature area (schema.ts, schema-media.ts, …) so features do not edit each other's tables.
  schema: "./src/db/schema*.ts",
  out: "./migrations",
});
