/**
 * Fault injection around a real R2 binding: the wrapper forwards every call to the real bucket,
 * except the ones a test asks to fail.
 */

export type BucketMethod = "get" | "put" | "head" | "list" | "delete";

export interface FaultPlan {
  /** Which methods the call counter watches. */
  methods: BucketMethod[];
  /** Fail the k-th watched call (1-based)... */
  failAtCall: number;
  /** ...and this many calls in a row from there (Infinity: until `disarm()`). */
  failures?: number;
  /** Only count calls whose key satisfies this. */
  keyFilter?: (key: string) => boolean;
}

export interface FaultyBucket {
  bucket: R2Bucket;
  injected: () => number;
  disarm: () => void;
}

export class InjectedFault extends Error {
  constructor(method: string, call: number) {
    super(`injected fault: ${method} call ${call}`);
    this.name = "InjectedFault";
  }
}

export function faultyBucket(real: R2Bucket, plan: FaultPlan): FaultyBucket {
  let calls = 0;
  let injected = 0;
  let armed = true;
  const failures = plan.failures ?? 1;
  const bucket = new Proxy(real, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      const method = String(property) as BucketMethod;
      return (...args: unknown[]) => {
        const key = typeof args[0] === "string" ? args[0] : "";
        if (armed && plan.methods.includes(method) && (!plan.keyFilter || plan.keyFilter(key))) {
          calls += 1;
          if (calls >= plan.failAtCall && injected < failures) {
            injected += 1;
            return Promise.reject(new InjectedFault(method, calls));
          }
        }
        return value.apply(target, args);
      };
    },
  });
  return {
    bucket,
    injected: () => injected,
    disarm: () => {
      armed = false;
    },
  };
}

/**
 * Counts the parts uploaded through a real bucket's multipart uploads, and can make the k-th
 * part upload fail (as if the process died there) or wait before a part's upload (`beforePart`).
 */
export function partCountingBucket(
  real: R2Bucket,
  options: { failAtPart?: number; beforePart?: (partNumber: number) => Promise<void> } = {},
) {
  const uploaded: number[] = [];
  let attempts = 0;
  let failed = false;
  const wrapUpload = (upload: R2MultipartUpload): R2MultipartUpload =>
    new Proxy(upload, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== "uploadPart" || typeof value !== "function")
          return typeof value === "function" ? value.bind(target) : value;
        return async (partNumber: number, body: unknown) => {
          attempts += 1;
          if (!failed && attempts === options.failAtPart) {
            failed = true;
            throw new InjectedFault("uploadPart", attempts);
          }
          await options.beforePart?.(partNumber);
          const part = await value.call(target, partNumber, body);
          uploaded.push(partNumber);
          return part;
        };
      },
    });
  const bucket = new Proxy(real, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "createMultipartUpload")
        return async (...args: Parameters<R2Bucket["createMultipartUpload"]>) =>
          wrapUpload(await target.createMultipartUpload(...args));
      if (property === "resumeMultipartUpload")
        return (...args: Parameters<R2Bucket["resumeMultipartUpload"]>) =>
          wrapUpload(target.resumeMultipartUpload(...args));
      return value.bind(target);
    },
  });
  return { bucket, uploaded };
}

/**
 * A `beforePart` that holds part 1's upload until part 4's starts, or five seconds have passed
 * (time for parts 2 and 3 to end even on a loaded machine): `overlapped()` says whether part 4
 * started while part 1 was still moving.
 */
export function slowFirstPart() {
  let fourthStarted: () => void = () => undefined;
  const fourth = new Promise<void>((resolve) => (fourthStarted = resolve));
  let overlapped = false;
  return {
    beforePart: async (partNumber: number) => {
      if (partNumber === 4) fourthStarted();
      if (partNumber === 1)
        overlapped = await Promise.race([
          fourth.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
        ]);
    },
    overlapped: () => overlapped,
  };
}
