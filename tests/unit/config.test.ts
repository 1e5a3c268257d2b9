import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../durable-objects/config";

const valid = { JWT_SECRET: "x".repeat(32), BACKUP_RETENTION_DAYS: "30", BACKUP_INCREMENTAL_ENABLED: "true" };

function failure(env: Record<string, unknown>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a configuration error");
}

describe("parseConfig", () => {
  it("parses the seed's variables and fills defaults", () => {
    const config = parseConfig(valid);
    expect(config).toMatchObject({
      BACKUP_RETENTION_DAYS: 30,
      BACKUP_INCREMENTAL_ENABLED: true,
      BACKUP_COMPRESSION_ENABLED: false,
      BACKUP_BATCH_SIZE: 100,
      BACKUP_FULL_INTERVAL_DAYS: 7,
    });
  });

  it.each([
    ["BACKUP_RETENTION_DAYS", "abc", /BACKUP_RETENTION_DAYS must be a whole number/],
    ["BACKUP_RETENTION_DAYS", "0", /BACKUP_RETENTION_DAYS must be at least 1/],
    ["BACKUP_INCREMENTAL_ENABLED", "yes", /BACKUP_INCREMENTAL_ENABLED/],
    ["BACKUP_SCHEDULE", "hourly", /BACKUP_SCHEDULE/],
    ["BACKUP_BATCH_SIZE", "500", /BACKUP_BATCH_SIZE must be at most 100/],
    ["JWT_JWKS_URL", "not a url", /JWT_JWKS_URL/],
    // Keys fetched over plain http could be swapped on the way (review defect 11).
    ["JWT_JWKS_URL", "http://issuer.example/.well-known/jwks.json", /JWT_JWKS_URL must be an https URL/],
    ["BACKUP_LARGE_OBJECT_MAX_RESTARTS", "101", /BACKUP_LARGE_OBJECT_MAX_RESTARTS must be at most 100/],
  ])("rejects %s=%s naming the variable", (variable, value, message) => {
    const error = failure({ ...valid, [variable]: value });
    expect(error.message).toMatch(message);
    expect(error.variables).toEqual([variable]);
  });

  it("requires a JWT_SECRET of 32 characters unless a JWKS URL is configured", () => {
    expect(failure({ ...valid, JWT_SECRET: undefined }).message).toMatch(/JWT_SECRET is required/);
    expect(failure({ ...valid, JWT_SECRET: "short" }).message).toMatch(/JWT_SECRET must be at least 32 characters/);
    expect(parseConfig({ JWT_JWKS_URL: "https://issuer.example/.well-known/jwks.json" }).JWT_JWKS_URL).toBe("https://issuer.example/.well-known/jwks.json");
  });
});
