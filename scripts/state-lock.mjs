// Who is using a local state folder: `npm start` records its process there while the dev server
// runs, so a script that writes the same state directly (the seed) can refuse instead of
// corrupting it. A record whose process is gone is stale and ignored.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const LOCK = "dev-server.json";

export function recordServer(stateDir, port) {
  writeFileSync(join(stateDir, LOCK), JSON.stringify({ pid: process.pid, port, since: new Date().toISOString() }));
  return () => rmSync(join(stateDir, LOCK), { force: true });
}

/** The dev server using `stateDir`, or null. */
export function serverUsing(stateDir) {
  const path = join(stateDir, LOCK);
  if (!existsSync(path)) return null;
  try {
    const record = JSON.parse(readFileSync(path, "utf8"));
    process.kill(record.pid, 0); // throws when the process is gone
    return record;
  } catch {
    return null;
  }
}
