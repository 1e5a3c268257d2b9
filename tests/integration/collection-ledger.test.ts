/**
 * The collection ledger's protocol against the real local D1 (engine/collection/ledger.ts): the
 * orders of a writer's presence check and a sweep page that must keep or re-store an object.
 */
import { clearTables, LEDGER_TABLES } from "../helpers/d1-tables";
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import {
  commitWithReferences,
  condemnPage,
  endHolder,
  finishPage,
  isCollectionConflict,
  pageDeleting,
  pruneLedger,
  readFence,
  registerCollector,
  releaseCollector,
  runLedger,
} from "../../durable-objects/engine/collection/ledger";
import { openDatabase } from "../../durable-objects/engine/records";

const db = () => openDatabase(env.DB);

async function conflictOf(keys: string[], fence: number, holder = "bk-writer"): Promise<string[] | null> {
  try {
    await commitWithReferences(db(), [], { holder, keys, fence });
    return null;
  } catch (error) {
    if (!isCollectionConflict(error)) throw error;
    return [...(error as { keys: string[] }).keys];
  }
}

async function register(collector: string): Promise<number> {
  const registration = await registerCollector(db(), collector);
  if (!registration.registered) throw new Error(`${collector} could not register: ${registration.collector} collects`);
  return registration.since;
}

const page = (pageId: string, since: number, candidates: string[], collector = "job-cleanup-1") => ({
  pageId,
  collector,
  since,
  candidates,
  tombstonePrefix: "",
});

beforeEach(async () => {
  await clearTables(LEDGER_TABLES);
});

describe("the collection ledger", () => {
  it("lets one collector register at a time, and the next once it is released", async () => {
    await register("job-cleanup-1");
    expect(await registerCollector(db(), "job-cleanup-2")).toEqual({ registered: false, collector: "job-cleanup-1" });
    // Registering again is harmless and keeps the first registration's sequence.
    const since = (await registerCollector(db(), "job-cleanup-1")) as { since: number };
    expect(await registerCollector(db(), "job-cleanup-1")).toEqual({ registered: true, since: since.since });
    await runLedger(db(), releaseCollector(db(), "job-cleanup-1"));
    expect((await registerCollector(db(), "job-cleanup-2")).registered).toBe(true);
  });

  it("never condemns what a running writer referenced, nor what a writer ended since the registration referenced", async () => {
    await commitWithReferences(db(), [], {
      holder: "bk-running",
      keys: ["blobs/running"],
      fence: await readFence(db()),
    });
    await commitWithReferences(db(), [], {
      holder: "bk-ended-before",
      keys: ["blobs/ended-before"],
      fence: await readFence(db()),
    });
    await runLedger(db(), endHolder(db(), "bk-ended-before"));
    await commitWithReferences(db(), [], {
      holder: "bk-ended-after",
      keys: ["blobs/ended-after"],
      fence: await readFence(db()),
    });
    const since = await register("job-cleanup-1");
    await runLedger(db(), endHolder(db(), "bk-ended-after"));

    const doomed = await condemnPage(
      db(),
      page("p1", since, ["blobs/running", "blobs/ended-before", "blobs/ended-after", "blobs/garbage"]),
    );
    expect(doomed.sort()).toEqual(["blobs/ended-before", "blobs/garbage"]);
  });

  it("makes a writer that found an object present before its page was condemned run its step again", async () => {
    const since = await register("job-cleanup-1");
    const fence = await readFence(db()); // the writer's step starts and finds blobs/x present...
    expect(await condemnPage(db(), page("p1", since, ["blobs/x"]))).toEqual(["blobs/x"]); // ...the sweep condemns it...
    expect(await conflictOf(["blobs/x", "blobs/y"], fence)).toEqual(["blobs/x"]); // ...so the step does not count.

    // While the page deletes, a step that starts now is fenced before it, so it cannot count either.
    expect(await conflictOf(["blobs/x"], await readFence(db()))).toEqual(["blobs/x"]);
    await finishPage(db(), "p1");
    expect(await pageDeleting(db(), "p1")).toBe(false);
    // Once the page is done, the step runs again, finds blobs/x absent, stores it, and counts.
    expect(await conflictOf(["blobs/x"], await readFence(db()))).toBeNull();
    // Its reference now protects it from any later page.
    expect(await condemnPage(db(), page("p2", since, ["blobs/x"]))).toEqual([]);
  });

  it("condemns the same set again when a page's step is replayed, and adds nothing once the page is done", async () => {
    const since = await register("job-cleanup-1");
    expect(await condemnPage(db(), page("p1", since, ["blobs/a"]))).toEqual(["blobs/a"]);
    expect((await condemnPage(db(), page("p1", since, ["blobs/b"]))).sort()).toEqual(["blobs/a", "blobs/b"]);
    await finishPage(db(), "p1");
    expect(await condemnPage(db(), page("p1", since, ["blobs/c"]))).toEqual([]);
  });

  it("keeps replica tombstones apart from the primary's", async () => {
    const since = await register("job-cleanup-1");
    const fence = await readFence(db());
    await condemnPage(db(), { ...page("r1", since, ["blobs/x"]), tombstonePrefix: "replica:" });
    expect(await conflictOf(["blobs/x"], fence)).toBeNull();
    expect(await conflictOf(["replica:blobs/x"], fence)).toEqual(["replica:blobs/x"]);
  });

  it("prunes old references and tombstones, and a writer whose fence predates the pruning looks again", async () => {
    await commitWithReferences(db(), [], { holder: "bk-old", keys: ["blobs/old"], fence: await readFence(db()) });
    await runLedger(db(), endHolder(db(), "bk-old"));
    const first = await register("job-cleanup-1");
    await condemnPage(db(), page("p1", first, ["blobs/gone"]));
    await finishPage(db(), "p1");
    await runLedger(db(), releaseCollector(db(), "job-cleanup-1"));

    const staleFence = (await readFence(db())) - 10;
    const second = await register("job-cleanup-2");
    expect(await pruneLedger(db(), second)).toBeGreaterThan(0);
    expect(await pruneLedger(db(), second)).toBe(0);
    const left = async (table: string) =>
      (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;
    expect([
      await left("gc_refs"),
      await left("gc_holders"),
      await left("gc_tombstones"),
      await left("gc_pages"),
    ]).toEqual([0, 0, 0, 0]);
    expect(await conflictOf(["blobs/new"], staleFence)).toEqual([]);
    expect(await conflictOf(["blobs/new"], await readFence(db()))).toBeNull();
  });

  it("counts a released collector's pages as done, so no writer waits on a cleanup that ended", async () => {
    const since = await register("job-cleanup-1");
    await condemnPage(db(), page("p1", since, ["blobs/a"]));
    const whileDeleting = await readFence(db());
    await runLedger(db(), releaseCollector(db(), "job-cleanup-1"));
    expect(await pageDeleting(db(), "p1")).toBe(false);
    expect(await readFence(db())).toBeGreaterThan(whileDeleting);
  });
});
