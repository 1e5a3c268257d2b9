/**
 * The production-shaped R2 layer (engine/r2-latency.ts): its profile's syntax, the per-call
 * latency by operation and size, and at most `maxInFlight` calls of one job object at once.
 */
import { describe, expect, it } from "vitest";
import { withD1Latency } from "../../durable-objects/engine/d1-latency";
import {
  ConnectionGate,
  parseLatencyProfile,
  PRODUCTION_LATENCY,
  withLatency,
} from "../../durable-objects/engine/r2-latency";

const MIB = 1024 * 1024;

/** Just enough of an R2 bucket: objects of a given size, and an upload that records its parts. */
function fakeBucket(sizes: Record<string, number>) {
  const object = (key: string, range?: R2Range) => ({ key, size: sizes[key] ?? 0, range, body: new ReadableStream() });
  const bucket = {
    head: async (key: string) => (key in sizes ? { key, size: sizes[key] } : null),
    get: async (key: string, options?: R2GetOptions) =>
      key in sizes ? object(key, options?.range as R2Range | undefined) : null,
    put: async (key: string, value: string) => ({ key, size: value.length }),
    list: async () => ({ objects: [], truncated: false }),
    delete: async () => undefined,
    createMultipartUpload: async (key: string) => ({
      key,
      uploadId: "u1",
      uploadPart: async (partNumber: number) => ({ partNumber, etag: "e" }),
      complete: async () => object(key),
      abort: async () => undefined,
    }),
  };
  return bucket as unknown as R2Bucket;
}

/** The latencies waited, in order, instead of sleeping. */
function recorder() {
  const waited: number[] = [];
  return { waited, wait: async (ms: number) => void waited.push(ms) };
}

describe("production-shaped R2 latency", () => {
  it("reads its profile: production, production×N, or JSON over the defaults; says what is wrong", () => {
    expect(parseLatencyProfile("production")).toEqual(PRODUCTION_LATENCY);
    expect(parseLatencyProfile("production×4").get).toEqual({ fixedMs: 120, perMiBMs: 32 });
    expect(parseLatencyProfile("production*2").maxInFlight).toBe(6);
    const custom = parseLatencyProfile('{"get": {"fixedMs": 50}, "maxInFlight": 2}');
    expect(custom).toMatchObject({ get: { fixedMs: 50, perMiBMs: 8 }, head: PRODUCTION_LATENCY.head, maxInFlight: 2 });
    expect(() => parseLatencyProfile("fast")).toThrow(/production/);
    expect(() => parseLatencyProfile('{"copy": {}}')).toThrow(/unknown operation copy/);
    expect(() => parseLatencyProfile('{"maxInFlight": 0}')).toThrow(/maxInFlight/);
    expect(() => parseLatencyProfile('{"put": {"fixedMs": -1}}')).toThrow(/≥ 0/);
  });

  it("waits each operation's fixed latency plus its per-MiB part for what it moved", async () => {
    const { waited, wait } = recorder();
    const bucket = withLatency(fakeBucket({ big: 2 * MIB }), PRODUCTION_LATENCY, new ConnectionGate(6), wait);
    await bucket.head("big");
    await bucket.get("big");
    // A ranged read costs its range, not the whole object (R2 reports the object's size).
    await bucket.get("big", { range: { offset: MIB, length: MIB / 2 } });
    await bucket.get("big", { range: { suffix: MIB / 4 } });
    await bucket.get("big", { range: { offset: MIB + MIB / 2 } });
    await bucket.get("missing");
    await bucket.put("small", "x".repeat(MIB / 2));
    await bucket.list();
    await bucket.delete("small");
    const upload = await bucket.createMultipartUpload("large");
    await upload.uploadPart(1, new Uint8Array(MIB));
    await upload.complete([]);
    expect(waited).toEqual([20, 30 + 16, 30 + 4, 30 + 2, 30 + 4, 30, 80 + 4, 60, 30, 80, 80 + 8, 80]);
  });

  it("lets one job object have at most maxInFlight calls at once, the rest waiting their turn", async () => {
    const gate = new ConnectionGate(6);
    const bucket = withLatency(
      fakeBucket({ a: 1 }),
      PRODUCTION_LATENCY,
      gate,
      (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    );
    const started = performance.now();
    await Promise.all(Array.from({ length: 13 }, () => bucket.head("a")));
    // 13 heads of 20 ms through 6 connections: three rounds.
    expect(performance.now() - started).toBeGreaterThanOrEqual(58);
    expect(gate.peak).toBe(6);
  });

  it("serves waiting calls in order", async () => {
    const gate = new ConnectionGate(1);
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4].map((n) =>
        gate.run(async () => {
          order.push(n);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }),
      ),
    );
    expect(order).toEqual([1, 2, 3, 4]);
    expect(gate.peak).toBe(1);
  });
});

describe("production-shaped D1 latency", () => {
  /** Just enough of D1: statements that remember their query and values; a batch that checks it got D1's own. */
  function fakeDatabase() {
    const made = new Set<object>();
    const statement = (query: string, values: unknown[] = []): D1PreparedStatement => {
      const s = {
        query,
        values,
        bind: (...v: unknown[]) => statement(query, v),
        run: async () => ({ success: true, query, values }),
        all: async () => ({ results: [{ query, values }] }),
        first: async () => ({ query, values }),
        raw: async () => [[query]],
      };
      made.add(s);
      return s as unknown as D1PreparedStatement;
    };
    const db = {
      prepare: (query: string) => statement(query),
      batch: async (statements: D1PreparedStatement[]) => {
        if (!statements.every((s) => made.has(s))) throw new Error("not a D1 statement");
        return statements.map((s) => ({ success: true, query: (s as unknown as { query: string }).query }));
      },
      exec: async () => ({ count: 1, duration: 0 }),
    };
    return db as unknown as D1Database;
  }

  it("is off in the production profile, so the R2 figures stand alone; JSON turns it on", () => {
    expect(PRODUCTION_LATENCY.d1.fixedMs).toBe(0);
    expect(parseLatencyProfile('{"d1": {"fixedMs": 30}}').d1).toEqual({ fixedMs: 30, perMiBMs: 0 });
    // Over a scaled profile: R2 twice the defaults, D1 as given.
    const scaled = parseLatencyProfile('{"base": "production×2", "d1": {"fixedMs": 30}}');
    expect(scaled).toMatchObject({ get: { fixedMs: 60, perMiBMs: 16 }, d1: { fixedMs: 30, perMiBMs: 0 } });
    expect(() => parseLatencyProfile('{"base": "fast"}')).toThrow(/production/);
    expect(() => parseLatencyProfile('{"base": "{}"}')).toThrow(/base must be/);
  });

  it("waits the fixed latency after every statement run, batch and exec, passing results through", async () => {
    const { waited, wait } = recorder();
    const db = withD1Latency(fakeDatabase(), { fixedMs: 30, perMiBMs: 0 }, wait);
    expect(await db.prepare("SELECT ?").bind(7).first()).toEqual({ query: "SELECT ?", values: [7] });
    await db.prepare("UPDATE t").run();
    await db.prepare("SELECT 1").all();
    await db.prepare("SELECT 2").raw();
    // A batch of wrapped statements reaches D1 as D1's own statements (the fake refuses others).
    const results = await db.batch([db.prepare("INSERT a").bind(1), db.prepare("INSERT b")]);
    expect(results.map((r) => (r as unknown as { query: string }).query)).toEqual(["INSERT a", "INSERT b"]);
    await db.exec("PRAGMA x");
    expect(waited).toEqual([30, 30, 30, 30, 30, 30]); // binding and preparing cost nothing; each call once
  });
});
