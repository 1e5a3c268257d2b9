import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../durable-objects/engine/settings/config";

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
    expect(parseConfig({ ...valid, BACKUP_MAX_SHARDS: "99" }).BACKUP_MAX_SHARDS).toBe(99);
  });

  it.each([
    ["BACKUP_RETENTION_DAYS", "abc", /BACKUP_RETENTION_DAYS must be a whole number/],
    ["BACKUP_RETENTION_DAYS", "0", /BACKUP_RETENTION_DAYS must be at least 1/],
    ["BACKUP_INCREMENTAL_ENABLED", "yes", /BACKUP_INCREMENTAL_ENABLED/],
    ["BACKUP_SCHEDULE", "monthly", /BACKUP_SCHEDULE/],
    // Backup details must not travel in clear text to another machine.
    [
      "BACKUP_WEBHOOK_URL",
      "http://hooks.example/backup",
      /BACKUP_WEBHOOK_URL must be https, or http to a loopback address/,
    ],
    ["BACKUP_WEBHOOK_URL", "ftp://127.0.0.1/x", /BACKUP_WEBHOOK_URL must be https/],
    ["BACKUP_WEBHOOK_URL", "not a url", /BACKUP_WEBHOOK_URL must be a URL/],
    ["BACKUP_ALERT_STALE_HOURS", "0", /BACKUP_ALERT_STALE_HOURS must be at least 1/],
    ["BACKUP_ALERT_GROWTH_FACTOR", "1", /BACKUP_ALERT_GROWTH_FACTOR must be at least 2/],
    ["BACKUP_BATCH_SIZE", "500", /BACKUP_BATCH_SIZE must be at most 100/],
    ["JWT_JWKS_URL", "not a url", /JWT_JWKS_URL/],
    // Keys fetched over plain http could be swapped on the way (review defect 11).
    ["JWT_JWKS_URL", "http://issuer.example/.well-known/jwks.json", /JWT_JWKS_URL must be an https URL/],
    ["BACKUP_LARGE_OBJECT_MAX_RESTARTS", "101", /BACKUP_LARGE_OBJECT_MAX_RESTARTS must be at most 100/],
    // A leaf shard's name holds its index in two digits.
    ["BACKUP_MAX_SHARDS", "100", /BACKUP_MAX_SHARDS must be at most 99/],
  ])("rejects %s=%s naming the variable", (variable, value, message) => {
    // (A webhook secret is present so that only the variable under test is wrong.)
    const error = failure({ ...valid, BACKUP_WEBHOOK_SECRET: "a-webhook-secret-of-some-length", [variable]: value });
    expect(error.message).toMatch(message);
    expect(error.variables).toEqual([variable]);
  });

  it("accepts https webhooks and http ones to this machine only, each with a secret", () => {
    const secret = { BACKUP_WEBHOOK_SECRET: "a-webhook-secret-of-some-length" };
    for (const url of [
      "https://hooks.example/backup",
      "http://127.0.0.1:8790/hook",
      "http://localhost/hook",
      "http://[::1]:9000/",
    ]) {
      expect(parseConfig({ ...valid, ...secret, BACKUP_WEBHOOK_URL: url }).BACKUP_WEBHOOK_URL).toBe(url);
    }
    const missing = failure({ ...valid, BACKUP_WEBHOOK_URL: "https://hooks.example/backup" });
    expect(missing.message).toMatch(/BACKUP_WEBHOOK_SECRET is required with BACKUP_WEBHOOK_URL/);
    expect(missing.variables).toEqual(["BACKUP_WEBHOOK_SECRET"]);
  });

  it("requires a JWT_SECRET of 32 characters unless a JWKS URL is configured", () => {
    expect(failure({ ...valid, JWT_SECRET: undefined }).message).toMatch(/JWT_SECRET is required/);
    expect(failure({ ...valid, JWT_SECRET: "short" }).message).toMatch(/JWT_SECRET must be at least 32 characters/);
    expect(parseConfig({ JWT_JWKS_URL: "https://issuer.example/.well-known/jwks.json" }).JWT_JWKS_URL).toBe(
      "https://issuer.example/.well-known/jwks.json",
    );
  });
});
