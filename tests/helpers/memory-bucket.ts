/**
 * A plain in-memory fake of the few R2 methods the steps use (`get`, `head`, `put`), for unit
 * tests of pure step logic. Integration tests use workerd's real local R2 instead.
 */
interface Stored {
  bytes: Uint8Array;
  customMetadata: Record<string, string>;
  httpMetadata: R2HTTPMetadata;
  uploaded: Date;
  etag: string;
}

export class MemoryBucket {
  readonly objects = new Map<string, Stored>();
  /** Keys whose reads fail (as R2 does when it is unavailable). */
  readonly failing = new Set<string>();
  gets = 0;

  async put(
    key: string,
    value: string | Uint8Array | ArrayBuffer | ReadableStream<Uint8Array>,
    options: R2PutOptions = {},
  ): Promise<R2Object> {
    const bytes =
      typeof value === "string"
        ? new TextEncoder().encode(value)
        : value instanceof ReadableStream
          ? new Uint8Array(await new Response(value).arrayBuffer())
          : new Uint8Array(value);
    this.objects.set(key, {
      bytes,
      customMetadata: options.customMetadata ?? {},
      httpMetadata: (options.httpMetadata as R2HTTPMetadata) ?? {},
      uploaded: new Date(),
      etag: `etag-${this.objects.size}-${bytes.length}`,
    });
    return this.describe(key)!;
  }

  async head(key: string): Promise<R2Object | null> {
    if (this.failing.has(key)) throw new Error(`R2 unavailable for ${key}`);
    return this.describe(key);
  }

  async get(key: string): Promise<R2ObjectBody | null> {
    this.gets += 1;
    if (this.failing.has(key)) throw new Error(`R2 unavailable for ${key}`);
    const object = this.describe(key);
    if (!object) return null;
    const { bytes } = this.objects.get(key)!;
    return {
      ...object,
      body: new Response(bytes).body!,
      bodyUsed: false,
      arrayBuffer: async () => bytes.slice().buffer,
      text: async () => new TextDecoder().decode(bytes),
      json: async () => JSON.parse(new TextDecoder().decode(bytes)),
      blob: async () => new Blob([bytes]),
      bytes: async () => bytes.slice(),
    } as unknown as R2ObjectBody;
  }

  private describe(key: string): R2Object | null {
    const stored = this.objects.get(key);
    if (!stored) return null;
    return {
      key,
      version: "1",
      size: stored.bytes.length,
      etag: stored.etag,
      httpEtag: `"${stored.etag}"`,
      uploaded: stored.uploaded,
      customMetadata: stored.customMetadata,
      httpMetadata: stored.httpMetadata,
      checksums: { toJSON: () => ({}) },
      storageClass: "Standard",
      writeHttpMetadata: () => undefined,
    } as unknown as R2Object;
  }
}
