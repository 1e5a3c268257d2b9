// The recovery point of event-driven backups on the local server: from a write to the source
// (through the local-development route, which sends the event notification R2 would) until a
// completed backup's snapshot holds it. Once for a single write (it waits for
// BACKUP_EVENT_MAX_DELAY_SECONDS) and once for a burst that reaches BACKUP_EVENT_THRESHOLD.

/** Resolves once a completed backup requested after `since` has `key` in its snapshot; ms waited. */
async function untilBackedUp(api, key, since, timeoutMs) {
  const started = performance.now();
  for (;;) {
    const { backups } = await api.call("GET", "/backup/list?status=completed&limit=5");
    for (const backup of backups.filter((b) => Date.parse(b.backupDate) >= since)) {
      const { files } = await api.call("GET", `/backup/files/${backup.id}?prefix=${encodeURIComponent(key)}&limit=1`);
      if (files[0]?.path === key) return { ms: performance.now() - started, backup };
    }
    if (performance.now() - started > timeoutMs)
      throw new Error(`${key} was not in a completed backup within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function write(api, keys) {
  await api.call("POST", "/dev/source-writes", {
    writes: keys.map((key) => ({ key, content: `written at ${new Date().toISOString()}` })),
  });
}

/** `burst`: the event threshold (BACKUP_EVENT_THRESHOLD, 100 by default). */
export async function measureRpo(api, { burst = 100, timeoutMs = 5 * 60_000 } = {}) {
  const results = [];
  const single = `rpo/single-${Date.now()}.txt`;
  const t0 = Date.now();
  await write(api, [single]);
  const one = await untilBackedUp(api, single, t0, timeoutMs);
  results.push({
    what: "one write (waits BACKUP_EVENT_MAX_DELAY_SECONDS)",
    seconds: one.ms / 1000,
    backup: one.backup,
  });

  const keys = Array.from({ length: burst }, (_, i) => `rpo/burst-${Date.now()}-${String(i).padStart(3, "0")}.txt`);
  const t1 = Date.now();
  await write(api, keys);
  const many = await untilBackedUp(api, keys.at(-1), t1, timeoutMs);
  results.push({
    what: `${burst} writes at once (BACKUP_EVENT_THRESHOLD)`,
    seconds: many.ms / 1000,
    backup: many.backup,
  });
  return results;
}
