/**
 * Fault injection through a job's `interpose` seam: every call the job makes to R2 (both buckets,
 * multipart uploads included), to D1 (statements and batches) and to its own storage is counted,
 * and a plan can make the k-th call throw, or make the job "die" right after the k-th call (every
 * later call fails, so nothing more of that attempt lands, as when the isolate is killed there).
 * The real bindings do the work; only the calls the plan names fail.
 */
import { runInDurableObject } from "cloudflare:test";
import { aroundD1Calls } from "../../durable-objects/engine/d1-calls";
import type { StepState } from "../../durable-objects/engine/lifecycle";
import type { Interposed, StepJob } from "../../durable-objects/step-job";

export class InjectedFault extends Error {
  constructor(message: string) {
    super(`injected fault: ${message}`);
    this.name = "InjectedFault";
  }
}

export type FaultMode = "count" | "throw" | "die";

export class CallPlan {
  readonly calls: string[] = [];
  dead = false;
  injected = 0;
  /** While set, every call it matches fails (an outage of D1, or of one object's reads). */
  outage: ((label: string, key: string) => boolean) | null = null;
  /** Makes the error a failing call throws (by default an InjectedFault naming the call). */
  fault: (label: string, call: number) => Error = (label, call) => new InjectedFault(`${label} (call ${call})`);
  /** The job dies right after the first call this matches. */
  dieAfter: ((label: string, key: string) => boolean) | null = null;
  /**
   * Runs before every async call, which waits for it: a test makes something else happen at an
   * exact point of a job's step (a cleanup's sweep between a backup's presence check and its commit).
   */
  before: ((label: string, key: string) => Promise<void>) | null = null;

  constructor(
    readonly mode: FaultMode,
    readonly at = 0,
  ) {}

  /** Runs one watched call under the plan; `key` is the object key or query, when there is one. */
  watch<T>(label: string, call: () => T, key = ""): T {
    if (this.dead) {
      this.injected += 1;
      throw new InjectedFault(`the job died before ${label}`);
    }
    this.calls.push(label);
    const n = this.calls.length;
    if ((this.mode === "throw" && n === this.at) || this.outage?.(label, key)) {
      this.injected += 1;
      throw this.fault(label, n);
    }
    const result = call();
    if ((this.mode === "die" && n === this.at) || this.dieAfter?.(label, key)) {
      this.dieAfter = null;
      // Dies once this call has had its effect: later calls (and this attempt's bookkeeping) fail.
      const die = () => {
        this.dead = true;
      };
      if (result instanceof Promise) return result.finally(die) as T;
      die();
    }
    return result;
  }

  /** Async calls fail as rejected promises, as the real bindings do. */
  watchAsync<T>(label: string, call: () => Promise<T>, key = ""): Promise<T> {
    const before = this.before;
    if (before) return before(label, key).then(() => this.watch(label, call, key));
    try {
      return this.watch(label, call, key);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

const R2_CALLS = new Set(["head", "get", "put", "delete", "list", "createMultipartUpload"]);
const UPLOAD_CALLS = new Set(["uploadPart", "complete", "abort"]);
const STORAGE_CALLS = new Set(["get", "put", "delete", "getAlarm", "setAlarm", "deleteAlarm", "list"]);

function wrapUpload(plan: CallPlan, name: string, upload: R2MultipartUpload): R2MultipartUpload {
  return new Proxy(upload, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (!UPLOAD_CALLS.has(String(property))) return value.bind(target);
      return (...args: unknown[]) =>
        plan.watchAsync(`${name}.upload.${String(property)}`, () => value.apply(target, args));
    },
  });
}

function wrapBucket(plan: CallPlan, name: string, bucket: R2Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const method = String(property);
      if (method === "resumeMultipartUpload")
        return (...args: Parameters<R2Bucket["resumeMultipartUpload"]>) =>
          wrapUpload(plan, name, target.resumeMultipartUpload(...args));
      if (method === "createMultipartUpload") {
        return (...args: Parameters<R2Bucket["createMultipartUpload"]>) =>
          plan.watchAsync(`${name}.createMultipartUpload`, async () =>
            wrapUpload(plan, name, await target.createMultipartUpload(...args)),
          );
      }
      if (!R2_CALLS.has(method)) return value.bind(target);
      return (...args: unknown[]) =>
        plan.watchAsync(
          `${name}.${method}`,
          () => value.apply(target, args),
          typeof args[0] === "string" ? args[0] : "",
        );
    },
  });
}

/** D1: every statement run, batch and exec is watched. */
function wrapDatabase(plan: CallPlan, db: D1Database): D1Database {
  return aroundD1Calls(db, (call, make) => plan.watchAsync(`DB.${call}`, make));
}

function wrapStorage(plan: CallPlan, storage: DurableObjectStorage): DurableObjectStorage {
  return new Proxy(storage, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const method = String(property);
      if (!STORAGE_CALLS.has(method)) return value.bind(target);
      return (...args: unknown[]) => plan.watchAsync(`storage.${method}`, () => value.apply(target, args));
    },
  });
}

/** A Durable Object namespace whose stubs' RPC calls are watched (the coordinator's `release`, the dispatcher's `wake`). */
function wrapNamespace(plan: CallPlan, name: string, namespace: DurableObjectNamespace): DurableObjectNamespace {
  return new Proxy(namespace, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "getByName" || typeof value !== "function")
        return typeof value === "function" ? value.bind(target) : value;
      return (id: string) => {
        const stub = target.getByName(id);
        return new Proxy(stub, {
          get(stubTarget, method) {
            const call = Reflect.get(stubTarget, method, stubTarget);
            if (typeof call !== "function" || typeof method !== "string" || method === "fetch") return call;
            // An RPC property is itself a stub: call it, never `.apply` it (that would be RPC too).
            return (...args: unknown[]) =>
              plan.watchAsync(`${name}.${method}`, () =>
                (stubTarget as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...args),
              );
          },
        });
      };
    },
  });
}

/** The interposer a job calls for each binding and its storage. */
export function interposer(plan: CallPlan) {
  return <T extends object>(name: Interposed, target: T): T => {
    if (name === "storage") return wrapStorage(plan, target as unknown as DurableObjectStorage) as unknown as T;
    if (name === "DB") return wrapDatabase(plan, target as unknown as D1Database) as unknown as T;
    if (name === "BUCKET_COORDINATOR" || name === "WEBHOOK_DISPATCHER")
      return wrapNamespace(plan, name, target as unknown as DurableObjectNamespace) as unknown as T;
    return wrapBucket(plan, name, target as unknown as R2Bucket) as unknown as T;
  };
}

/** Puts a plan in front of a job object's bindings and storage (until it is evicted). */
export async function armPlan(stub: DurableObjectStub, plan: CallPlan): Promise<void> {
  await runInDurableObject(stub, (job) => {
    (job as unknown as StepJob<StepState>).interpose = interposer(plan);
  });
}

export async function disarm(stub: DurableObjectStub): Promise<void> {
  await runInDurableObject(stub, (job) => {
    (job as unknown as StepJob<StepState>).interpose = null;
  });
}
