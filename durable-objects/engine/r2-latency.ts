/**
 * Production-shaped R2 on the local stack (issue 23, part 1), for benches and tests only: locally
 * R2 is an in-process simulator, so a job object looks far faster than it can be in production,
 * where each R2 call is a network round trip and a Durable Object holds at most 6 outgoing
 * connections at once (Cloudflare's documented limit; R2 calls count). Wrapped this way, every
 * call of a job object's R2 bindings waits for one of `maxInFlight` slots, is made, and keeps its
 * slot for its operation's latency: a fixed part plus a part per MiB moved.
 *
 * Off unless BACKUP_TEST_R2_LATENCY is set ("production", "production×N" to scale every latency
 * by N, or JSON overriding some operations); never set it in production.
 *
 * Simplifications, stated: the per-MiB part is charged when the call returns (for a read, by the
 * bytes it returns, before its body is consumed: the range's length for a ranged read, the
 * object's size otherwise; for a streamed write, by the size R2 reports), and a body read
 * afterwards holds no slot.
 */

export interface CallLatency {
  fixedMs: number;
  perMiBMs: number;
}

export interface LatencyProfile {
  head: CallLatency;
  get: CallLatency;
  put: CallLatency;
  list: CallLatency;
  delete: CallLatency;
  /** Creating, resuming, completing and aborting a multipart upload, and each part's upload. */
  multipart: CallLatency;
  /**
   * Each D1 call of a job object (a statement or a batch; d1-latency.ts). 0 by default, so that
   * the R2 figures stand alone; a bench sets it to measure D1's share of a job's time.
   */
  d1: CallLatency;
  /** R2 calls one job object has in flight at most; the rest queue. */
  maxInFlight: number;
}

type Operation = Exclude<keyof LatencyProfile, "maxInFlight">;
const OPERATIONS: readonly Operation[] = ["head", "get", "put", "list", "delete", "multipart", "d1"];

/**
 * The defaults, from round trips to R2 within a region (docs/performance.md): a metadata read
 * 20 ms, a read 30 ms, a write 80 ms (R2 acknowledges a write once it is durable), a listing
 * 60 ms, a deletion 30 ms, and 8 ms per MiB moved (about 125 MB/s per connection).
 */
export const PRODUCTION_LATENCY: LatencyProfile = {
  head: { fixedMs: 20, perMiBMs: 0 },
  get: { fixedMs: 30, perMiBMs: 8 },
  put: { fixedMs: 80, perMiBMs: 8 },
  list: { fixedMs: 60, perMiBMs: 0 },
  delete: { fixedMs: 30, perMiBMs: 0 },
  multipart: { fixedMs: 80, perMiBMs: 8 },
  d1: { fixedMs: 0, perMiBMs: 0 },
  maxInFlight: 6,
};

/**
 * Reads BACKUP_TEST_R2_LATENCY: "production", "production×N" (or "production*N": every latency
 * times N), or a JSON object over the defaults, such as `{"get": {"fixedMs": 50}, "maxInFlight": 6}`,
 * or over a scaled profile: `{"base": "production×2", "d1": {"fixedMs": 30}}`.
 * Throws with what is wrong.
 */
export function parseLatencyProfile(text: string): LatencyProfile {
  const scaled = /^production(?:[×*x](\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (scaled) return scaleProfile(PRODUCTION_LATENCY, scaled[1] ? Number(scaled[1]) : 1);
  let overrides: unknown;
  try {
    overrides = JSON.parse(text);
  } catch {
    throw new Error(`must be "production", "production×N" or a JSON object, not ${JSON.stringify(text)}`);
  }
  if (typeof overrides !== "object" || overrides === null || Array.isArray(overrides))
    throw new Error("must be a JSON object of operations");
  const { base, ...operations } = overrides as Record<string, unknown>;
  if (base !== undefined && (typeof base !== "string" || base.trim().startsWith("{")))
    throw new Error('base must be "production" or "production×N"');
  const profile: LatencyProfile = base === undefined ? { ...PRODUCTION_LATENCY } : parseLatencyProfile(base);
  for (const [name, value] of Object.entries(operations)) {
    if (name === "maxInFlight") {
      if (!Number.isInteger(value) || (value as number) < 1) throw new Error("maxInFlight must be a whole number ≥ 1");
      profile.maxInFlight = value as number;
    } else if ((OPERATIONS as readonly string[]).includes(name)) {
      const call = { ...profile[name as Operation], ...(value as Partial<CallLatency>) };
      if (!(call.fixedMs >= 0) || !(call.perMiBMs >= 0)) throw new Error(`${name}: latencies must be ≥ 0 ms`);
      profile[name as Operation] = call;
    } else {
      throw new Error(`unknown operation ${name} (known: ${OPERATIONS.join(", ")}, maxInFlight, base)`);
    }
  }
  return profile;
}

function scaleProfile(profile: LatencyProfile, factor: number): LatencyProfile {
  if (!(factor > 0)) throw new Error("the factor must be above 0");
  const scaled = { ...profile };
  for (const name of OPERATIONS)
    scaled[name] = { fixedMs: profile[name].fixedMs * factor, perMiBMs: profile[name].perMiBMs * factor };
  return scaled;
}

/** At most `limit` calls at once; the rest wait in order. One per job object, shared by its bindings. */
export class ConnectionGate {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most calls ever in flight at once (for tests and benches). */
  peak = 0;

  constructor(readonly limit: number) {}

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight += 1;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      return await call();
    } finally {
      // The slot passes straight to the next waiter, so a call arriving now cannot overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight -= 1;
    }
  }
}

const MIB = 1024 * 1024;
export const sleep = (ms: number) =>
  ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

/** The bucket with every call gated and delayed by `profile`. */
export function withLatency(
  bucket: R2Bucket,
  profile: LatencyProfile,
  gate: ConnectionGate,
  wait: (ms: number) => Promise<void> = sleep,
): R2Bucket {
  const timed = <T>(operation: Operation, call: () => Promise<T>, bytesOf: (result: T) => number = () => 0) =>
    gate.run(async () => {
      const result = await call();
      const { fixedMs, perMiBMs } = profile[operation];
      await wait(fixedMs + (perMiBMs * bytesOf(result)) / MIB);
      return result;
    });
  const sizeOf = (object: R2Object | null) => object?.size ?? 0;
  const upload = (multipart: R2MultipartUpload): R2MultipartUpload => ({
    key: multipart.key,
    uploadId: multipart.uploadId,
    uploadPart: (partNumber, value, options) =>
      timed(
        "multipart",
        () => multipart.uploadPart(partNumber, value, options),
        () => byteLength(value),
      ),
    complete: (parts) => timed("multipart", () => multipart.complete(parts)),
    abort: () => timed("multipart", () => multipart.abort()),
  });
  return new Proxy(bucket, {
    get(target, property, receiver) {
      switch (property) {
        case "head":
          return (key: string) => timed("head", () => target.head(key));
        case "get":
          return (key: string, options?: R2GetOptions) => timed("get", () => target.get(key, options), bytesReturned);
        case "put":
          return (key: string, value: Parameters<R2Bucket["put"]>[1], options?: R2PutOptions) =>
            timed("put", () => target.put(key, value, options), sizeOf);
        case "list":
          return (options?: R2ListOptions) => timed("list", () => target.list(options));
        case "delete":
          return (keys: string | string[]) => timed("delete", () => target.delete(keys));
        case "createMultipartUpload":
          return async (key: string, options?: R2MultipartOptions) =>
            upload(await timed("multipart", () => target.createMultipartUpload(key, options)));
        case "resumeMultipartUpload":
          // No call is made until the upload is used.
          return (key: string, uploadId: string) => upload(target.resumeMultipartUpload(key, uploadId));
        default:
          return Reflect.get(target, property, receiver);
      }
    },
  });
}

/**
 * What a read returns: a ranged read's range (an R2 object's `size` is the whole object's, so
 * charging it would make every part of a large object cost the whole object), else the object.
 */
function bytesReturned(object: R2Object | R2ObjectBody | null): number {
  if (!object || !("body" in object)) return 0;
  const range = object.range as { offset?: number; length?: number; suffix?: number } | undefined;
  if (range?.length !== undefined) return Math.min(range.length, object.size - (range.offset ?? 0));
  if (range?.suffix !== undefined) return Math.min(range.suffix, object.size);
  if (range?.offset !== undefined) return object.size - range.offset;
  return object.size;
}

/** A part's size when it is known without reading it (a stream's is not: charged as 0 MiB). */
function byteLength(value: unknown): number {
  if (typeof value === "string") return new TextEncoder().encode(value).length;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof Blob) return value.size;
  return 0;
}
