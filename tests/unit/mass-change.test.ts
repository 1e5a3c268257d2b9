/**
 * The mass-change rule over exact histories: ordinary days never open it, however large or small
 * the bucket; an attack opens it by the changed share, by the share of new content that does not
 * compress, or by many small backups adding up over the window; acknowledged backups never open
 * it again; and the change signal a backup keeps sums and caps as it should.
 */
import { describe, expect, it } from "vitest";
import { findMassChange, median, type ChangeRecord } from "../../durable-objects/engine/monitor/mass-change";
import {
  countChange,
  countSample,
  NO_CHANGES,
  OTHER_PREFIXES,
  sumSignals,
  topPrefixes,
} from "../../durable-objects/engine/backup/change-signal";
import { looksIncompressible } from "../../durable-objects/engine/format/incompressibility";

const limits = { sharePercent: 25, factor: 5, incompressibleRisePercent: 40, minObjects: 100, windowHours: 24 };
const DAY = 86_400_000;
const T0 = Date.parse("2026-11-01T02:00:00Z");

function record(id: string, at: number, values: Partial<ChangeRecord> = {}): ChangeRecord {
  return {
    id,
    backupDate: new Date(at).toISOString(),
    modified: 0,
    deleted: 0,
    baseline: 1000,
    sampled: 0,
    incompressible: 0,
    prefixes: {},
    ...values,
  };
}

/** Ten ordinary days: 2% of a 1000-object bucket changed, text that compresses. */
const ordinaryDays = Array.from({ length: 10 }, (_, day) =>
  record(`day-${day}`, T0 + day * DAY, { modified: 20, sampled: 25, incompressible: 1, prefixes: { "docs/": 20 } }),
).reverse();

describe("mass_change rule", () => {
  it("ordinary days open nothing", () => {
    expect(findMassChange(ordinaryDays, null, limits)).toBeNull();
  });

  it("60% overwritten with incompressible content opens it by both measures, naming the backup and prefixes", () => {
    const attack = record("attack", T0 + 10 * DAY, {
      modified: 600,
      sampled: 600,
      incompressible: 598,
      prefixes: { "reports/": 500, "invoices/": 100 },
    });
    const found = findMassChange([attack, ...ordinaryDays], null, limits);
    expect(found).toMatchObject({
      backupId: "attack",
      scope: "backup",
      measures: ["changes", "incompressible"],
      modified: 600,
      changedShare: 0.6,
      changedMedian: 0.02,
      incompressibleMedian: 0.04,
      topPrefixes: [
        { prefix: "reports/", changes: 500 },
        { prefix: "invoices/", changes: 100 },
      ],
    });
  });

  it("a new bucket's first backups are not judged: there is no median yet", () => {
    const attack = record("attack", T0 + 10 * DAY, { modified: 600, sampled: 600, incompressible: 600 });
    expect(findMassChange([attack, ...ordinaryDays.slice(0, 2)], null, limits)).toBeNull();
    expect(findMassChange([attack, ...ordinaryDays.slice(0, 3)], null, limits)?.backupId).toBe("attack");
  });

  it("mass deletions open it by the changed share alone", () => {
    const wipe = record("wipe", T0 + 10 * DAY, { deleted: 700, baseline: 1000 });
    expect(findMassChange([wipe, ...ordinaryDays], null, limits)?.measures).toEqual(["changes"]);
  });

  it("new content turning to noise opens it even when few keys were modified", () => {
    const noise = record("noise", T0 + 10 * DAY, { modified: 10, sampled: 300, incompressible: 290 });
    expect(findMassChange([noise, ...ordinaryDays], null, limits)?.measures).toEqual(["incompressible"]);
  });

  it("a text bucket receiving a batch of new photos is not an attack: incompressible content must be a large part of the bucket", () => {
    const photos = record("photos", T0 + 10 * DAY, { sampled: 150, incompressible: 150, baseline: 1150 });
    expect(findMassChange([photos, ...ordinaryDays], null, limits)).toBeNull();
  });

  it("a bucket of photos (always incompressible) does not open it by incompressibility", () => {
    const photos = ordinaryDays.map((r) => ({ ...r, sampled: 200, incompressible: 190 }));
    const more = record("more", T0 + 10 * DAY, { modified: 20, sampled: 400, incompressible: 399 });
    expect(findMassChange([more, ...photos], null, limits)).toBeNull();
  });

  it("the absolute floor: a small bucket's large share pages no one", () => {
    const small = ordinaryDays.map((r) => ({ ...r, baseline: 40, modified: 1 }));
    const change = record("small", T0 + 10 * DAY, { modified: 30, baseline: 40 });
    expect(findMassChange([change, ...small], null, limits)).toBeNull();
    expect(findMassChange([change, ...small], null, { ...limits, minObjects: 20 })?.backupId).toBe("small");
  });

  it("a bucket that always churns needs the factor over its median, not the share alone", () => {
    const churning = ordinaryDays.map((r) => ({ ...r, modified: 300 }));
    expect(findMassChange([record("usual", T0 + 10 * DAY, { modified: 400 }), ...churning], null, limits)).toBeNull();
  });

  it("many small event backups add up over the window, held from the first of them", () => {
    const events = Array.from({ length: 12 }, (_, i) =>
      record(`event-${i}`, T0 + 10 * DAY + i * 3_600_000, { modified: 30, prefixes: { "a/": 30 } }),
    ).reverse();
    const found = findMassChange([...events, ...ordinaryDays], null, limits);
    expect(found).toMatchObject({ scope: "window", backupId: "event-0", modified: 360, measures: ["changes"] });
    expect(found!.backups).toHaveLength(12);
  });

  it("backups up to an acknowledgement never open it again, but count in the median", () => {
    const attack = record("attack", T0 + 10 * DAY, { modified: 600 });
    const history = [attack, ...ordinaryDays];
    expect(findMassChange(history, attack.backupDate, limits)).toBeNull();
    const after = record("after", T0 + 11 * DAY, { modified: 20 });
    expect(findMassChange([after, ...history], attack.backupDate, limits)).toBeNull();
    const again = record("again", T0 + 12 * DAY, { modified: 650 });
    expect(findMassChange([again, after, ...history], attack.backupDate, limits)?.backupId).toBe("again");
  });

  it("median of even and odd counts", () => {
    expect(median([])).toBe(0);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe("change signal", () => {
  it("counts modifications and deletions by top-level prefix, samples apart", () => {
    let signal = countChange(NO_CHANGES, "reports/2026/q1.pdf", "modified");
    signal = countChange(signal, "reports/a", "deleted");
    signal = countChange(signal, "top.txt", "modified");
    signal = countSample(countSample(countSample(signal, true), false), null);
    expect(signal).toEqual({ modified: 2, sampled: 2, incompressible: 1, prefixes: { "reports/": 2, "": 1 } });
  });

  it("caps distinct prefixes, the rest counted together; sums across shards", () => {
    let signal = NO_CHANGES;
    for (let i = 0; i < 60; i++) signal = countChange(signal, `p${i}/key`, "deleted");
    expect(Object.keys(signal.prefixes)).toHaveLength(51);
    expect(signal.prefixes[OTHER_PREFIXES]).toBe(10);
    const total = sumSignals([signal, undefined, countChange(NO_CHANGES, "p0/x", "modified")]);
    expect(total.prefixes["p0/"]).toBe(2);
    expect(total.modified).toBe(1);
    expect(topPrefixes(total.prefixes, 2)).toEqual([
      { prefix: OTHER_PREFIXES, changes: 10 },
      { prefix: "p0/", changes: 2 },
    ]);
  });
});

describe("incompressibility sample", () => {
  it("random bytes do not compress, text does, a tiny sample is not judged", async () => {
    // Noise from a fixed xorshift seed: as incompressible as encrypted content, and the same every run.
    const random = new Uint8Array(4096);
    let state = 0x9e3779b9;
    for (let i = 0; i < random.length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      random[i] = state & 0xff;
    }
    expect(await looksIncompressible(random)).toBe(true);
    expect(await looksIncompressible(new TextEncoder().encode("quarterly report line\n".repeat(200)))).toBe(false);
    expect(await looksIncompressible(random.subarray(0, 100))).toBeNull();
  });
});
