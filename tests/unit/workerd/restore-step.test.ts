import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../durable-objects/engine/format/hashing";
import type { ManifestEntry } from "../../../durable-objects/engine/format/manifest";
import {
  initialRestoreState,
  runRestoreStep,
  UNREADABLE_PAGE,
  type RestoreDeps,
  type RestoreState,
} from "../../../durable-objects/engine/restore/restore-step";
import { writeManifest } from "../../helpers/manifest";
import { MemoryBucket } from "../../helpers/memory-bucket";

async function backupOf(contents: Record<string, string>) {
  const backup = new MemoryBucket();
  const entries: ManifestEntry[] = [];
  for (const [key, content] of Object.entries(contents)) {
    const sha256 = await sha256Hex(content);
    await backup.put(`blobs/${sha256}`, content, { customMetadata: { format: "raw", sha256 } });
    entries.push({
      key,
      size: content.length,
      etag: "e",
      lastModified: "2026-11-15T10:00:00.000Z",
      sha256,
      blob: `blobs/${sha256}`,
      httpMetadata: { contentType: "text/plain" },
      customMetadata: { k: key },
    });
  }
  const index = await writeManifest(backup, "bk-1", entries);
  return Object.assign(backup, { index });
}

function restoreState(
  index: Awaited<ReturnType<typeof writeManifest>>,
  options: Partial<RestoreState["options"]> = {},
): RestoreState {
  const request = {
    jobId: "job-1",
    backupId: "bk-1",
    bucketName: "src",
    requestedBy: "t",
    holdsLease: true,
    options: {
      overwriteExisting: false,
      verifyAfterRestore: false,
      dryRun: false,
      targetPrefix: "",
      filter: { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null },
      ...options,
    },
  };
  return initialRestoreState(request, index, new Date(Date.now() - 1000).toISOString());
}

function deps(
  source: MemoryBucket,
  backup: MemoryBucket,
  unreadable: string[] = [],
): RestoreDeps & { pages: [string | null, number][] } {
  const pages: [string | null, number][] = [];
  return {
    pages,
    source: source as unknown as RestoreDeps["source"],
    backup,
    replica: null,
    keyring: null,
    concurrency: 2,
    byteBudget: 1 << 20,
    multipartThreshold: 1 << 20,
    partSize: 5 << 20,
    hashStepBytes: 1 << 20,
    save: async () => undefined,
    unreadableFiles: async (after, limit) => {
      pages.push([after, limit]);
      const rest = unreadable.filter((k) => after === null || k > after);
      return rest.slice(0, limit);
    },
  };
}

async function runToEnd(d: RestoreDeps, state: RestoreState) {
  const findings = [];
  for (let steps = 0; state.stage === "running"; steps++) {
    if (steps > 50) throw new Error("restore did not end");
    state = await runRestoreStep(d, state);
    findings.push(...state.newFindings);
    state = { ...state, newFindings: [] };
  }
  return { state, findings };
}

describe("restore step (plain fake buckets)", () => {
  it("restores content and metadata, and never replaces an existing object without overwriteExisting", async () => {
    const backup = await backupOf({ "a.txt": "alpha", "b.txt": "beta", "c.txt": "gamma" });
    const source = new MemoryBucket();
    await source.put("b.txt", "newer beta");
    const { state, findings } = await runToEnd(deps(source, backup), restoreState(backup.index));
    expect(state).toMatchObject({
      outcome: "completed",
      filesRestored: 2,
      filesSkipped: 1,
      filesFailed: 0,
      bytesRestored: 10,
    });
    expect(findings).toEqual([]);
    expect(new TextDecoder().decode(source.objects.get("a.txt")!.bytes)).toBe("alpha");
    expect(source.objects.get("a.txt")!.customMetadata).toEqual({ k: "a.txt" });
    expect(new TextDecoder().decode(source.objects.get("b.txt")!.bytes)).toBe("newer beta");
  });

  it("a dry run writes nothing and lists what it would write, under the target prefix", async () => {
    const backup = await backupOf({ "a.txt": "alpha", "b.csv": "beta" });
    const source = new MemoryBucket();
    const { state, findings } = await runToEnd(
      deps(source, backup),
      restoreState(backup.index, { dryRun: true, targetPrefix: "t/" }),
    );
    expect(state).toMatchObject({ outcome: "completed", filesRestored: 2 });
    expect(findings.map((f) => `${f.list}:${f.path}`)).toEqual(["planned:t/a.txt", "planned:t/b.csv"]);
    expect(source.objects.size).toBe(0);
  });

  it("a missing blob fails that object with the reason, not the restore", async () => {
    const backup = await backupOf({ "a.txt": "alpha", "b.txt": "beta" });
    backup.objects.delete(`blobs/${await sha256Hex("alpha")}`);
    const { state, findings } = await runToEnd(deps(new MemoryBucket(), backup), restoreState(backup.index));
    expect(state).toMatchObject({ filesRestored: 1, filesFailed: 1 });
    expect(findings).toEqual([
      { list: "failure", path: "a.txt", detail: expect.stringMatching(/missing from the backup store/) },
    ]);
  });

  it("pages a partial backup's unreadable objects, one page per step, and counts them all as failed", async () => {
    const backup = await backupOf({ "a.txt": "alpha" });
    const unreadable = Array.from({ length: UNREADABLE_PAGE + 3 }, (_, i) => `u/${String(i).padStart(4, "0")}`);
    const d = deps(new MemoryBucket(), backup, unreadable);
    const { state, findings } = await runToEnd(d, restoreState(backup.index));
    expect(d.pages).toEqual([
      [null, UNREADABLE_PAGE],
      [unreadable[UNREADABLE_PAGE - 1], UNREADABLE_PAGE],
    ]);
    expect(state).toMatchObject({ filesRestored: 1, filesFailed: UNREADABLE_PAGE + 3 });
    expect(findings).toHaveLength(UNREADABLE_PAGE + 3);
  });
});
