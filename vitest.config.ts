import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  // The same SQL files `wrangler d1 migrations apply` uses in dev and production.
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ENVIRONMENT: "test",
            HASH_PEPPER: "test-pepper-0123456789abcdef0123456789abcdef",
            CORS_ORIGINS: "https://app.gatehouse.test",
            TEST_MIGRATIONS: migrations,
          },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/setup/apply-migrations.ts"],
      testTimeout: 20_000,
      // Access-log lines are asserted where they matter; elsewhere they only bury failures.
      onConsoleLog: (log: string) => !log.includes('"msg":"request"'),
      reporters: ["default", "./test/reporters/summary.ts"],
      hookTimeout: 30_000,
    },
  };
});
