// The in-runtime ceiling of `npm run bench`: what plain R2 calls achieve inside the same workerd
// the engine runs in, at the engine's concurrency, with none of its bookkeeping. Loaded by
// scripts/bench/ceiling.mjs through Miniflare on the bench's state folder.
//
//   POST /copy?from=SOURCE&prefix=&hash=0|1&concurrency=6   get → put into SCRATCH (hash: the body
//        also goes through crypto.DigestStream, as the engine hashes what it stores; check=1, for
//        blobs: R2 checks the put against the SHA-256 the blob's name is, as a restore asks it to)
//        partBytes=N: objects larger than N are copied as the engine moves a large object, by
//        multipart upload, each part a ranged get → uploadPart, partsInFlight (3) at a time
//   POST /read?from=BACKUP&prefix=blobs/&concurrency=6      get → DigestStream (what a full verify reads)
//   POST /clear                                            empties SCRATCH
//   POST /generate?key=K&bytes=N                           writes N pseudo-random bytes to K in SOURCE,
//        generated here in 1 MiB pieces (the Node API cannot carry a 1 GiB body)
// Each answers {objects, bytes}. With a LATENCY binding (a BACKUP_TEST_R2_LATENCY spec), /copy and
// /read make their R2 calls through the engine's latency layer, one set of 6 connections per
// request, as one job object has.
import { ConnectionGate, parseLatencyProfile, withLatency } from "./r2-latency.mjs";

/** The buckets one request uses: as they are, or shaped like production's when LATENCY is set. */
function bucketsOf(env) {
  const names = ["SOURCE", "BACKUP", "SCRATCH"];
  if (!env.LATENCY) return Object.fromEntries(names.map((name) => [name, env[name]]));
  const profile = parseLatencyProfile(env.LATENCY);
  const gate = new ConnectionGate(profile.maxInFlight);
  return Object.fromEntries(names.map((name) => [name, withLatency(env[name], profile, gate)]));
}

async function forEachObject(bucket, prefix, concurrency, visit) {
  let cursor;
  const totals = { objects: 0, bytes: 0 };
  do {
    const page = await bucket.list({ prefix, cursor, limit: 1000 });
    let next = 0;
    const worker = async () => {
      while (next < page.objects.length) {
        const listed = page.objects[next++];
        const size = await visit(listed); // (not `+= await`: that would read the total before waiting)
        totals.bytes += size;
        totals.objects += 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return totals;
}

async function hashed(stream) {
  const digest = new crypto.DigestStream("SHA-256");
  await stream.pipeTo(digest);
  return digest.digest;
}

/** `listed` copied from `from` to `to` by multipart upload: parts of `partBytes`, `inFlight` at a time. */
async function copyInParts(from, to, listed, partBytes, inFlight) {
  const upload = await to.createMultipartUpload(listed.key);
  const count = Math.ceil(listed.size / partBytes);
  const parts = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const offset = index * partBytes;
      const length = Math.min(partBytes, listed.size - offset);
      const object = await from.get(listed.key, { range: { offset, length } });
      parts[index] = await upload.uploadPart(index + 1, object.body.pipeThrough(new FixedLengthStream(length)));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  await upload.complete(parts);
  return listed.size;
}

export default {
  async fetch(request, rawEnv) {
    const url = new URL(request.url);
    const env = ["/copy", "/read"].includes(url.pathname) ? { ...rawEnv, ...bucketsOf(rawEnv) } : rawEnv;
    const concurrency = Number(url.searchParams.get("concurrency") ?? "6");
    const prefix = url.searchParams.get("prefix") ?? "";
    const from = env[url.searchParams.get("from") ?? "SOURCE"];
    if (url.pathname === "/copy") {
      const hash = url.searchParams.get("hash") === "1";
      const check = url.searchParams.get("check") === "1";
      const partBytes = Number(url.searchParams.get("partBytes") ?? "0");
      const partsInFlight = Number(url.searchParams.get("partsInFlight") ?? "3");
      const totals = await forEachObject(from, prefix, concurrency, async (listed) => {
        if (partBytes > 0 && listed.size > partBytes)
          return copyInParts(from, env.SCRATCH, listed, partBytes, partsInFlight);
        const object = await from.get(listed.key);
        if (!hash) {
          const sha256 = check ? { sha256: listed.key.slice(listed.key.lastIndexOf("/") + 1) } : {};
          await env.SCRATCH.put(listed.key, object.body, {
            httpMetadata: object.httpMetadata,
            customMetadata: object.customMetadata,
            ...sha256,
          });
          return object.size;
        }
        const [forPut, forHash] = object.body.tee();
        await Promise.all([
          env.SCRATCH.put(listed.key, forPut.pipeThrough(new FixedLengthStream(object.size)), {
            httpMetadata: object.httpMetadata,
          }),
          hashed(forHash),
        ]);
        return object.size;
      });
      return Response.json(totals);
    }
    if (url.pathname === "/read") {
      const totals = await forEachObject(from, prefix, concurrency, async (listed) => {
        const object = await from.get(listed.key);
        await hashed(object.body);
        return object.size;
      });
      return Response.json(totals);
    }
    if (url.pathname === "/generate") {
      const size = Number(url.searchParams.get("bytes"));
      const piece = 1024 * 1024;
      let state = 0x9e3779b9;
      let made = 0;
      const body = new ReadableStream({
        pull(controller) {
          if (made >= size) return controller.close();
          const bytes = new Uint8Array(Math.min(piece, size - made));
          const words = new Uint32Array(bytes.buffer, 0, Math.floor(bytes.length / 4));
          for (let i = 0; i < words.length; i++) {
            state ^= state << 13;
            state ^= state >>> 17;
            state ^= state << 5;
            words[i] = state >>> 0;
          }
          made += bytes.length;
          controller.enqueue(bytes);
        },
      });
      await env.SOURCE.put(url.searchParams.get("key"), body.pipeThrough(new FixedLengthStream(size)), {
        httpMetadata: { contentType: "video/mp4" },
      });
      return Response.json({ objects: 1, bytes: size });
    }
    if (url.pathname === "/clear") {
      let cursor;
      do {
        const page = await env.SCRATCH.list({ cursor, limit: 1000 });
        if (page.objects.length) await env.SCRATCH.delete(page.objects.map((o) => o.key));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return Response.json({ objects: 0, bytes: 0 });
    }
    return new Response("not found", { status: 404 });
  },
};
