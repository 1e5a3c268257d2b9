import { defineConfig } from "drizzle-kit";

// Only generation runs through drizzle-kit; migrations are applied by wrangler
// (`wrangler d1 migrations apply`), which reads `drizzle/` as its migrations_dir.
export default defineConfig({
  dialect: "sqlite",
  schema: "./schema/index.ts",
  out: "./drizzle",
});
