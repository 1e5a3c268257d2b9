/**
 * A real `wrangler dev` server on this machine's loopback, on a throw-away state folder seeded
 * with demo data, for the tests that need one (the dashboard in a browser, the command-line
 * client). Started and stopped by the test file that uses it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error: a plain .mjs script without types
import { freePort, seedState, startServer, stopServer } from "../../scripts/local-stack.mjs";
// @ts-expect-error: a plain .mjs script without types
import { signLocalToken } from "../../scripts/local-token.mjs";

export interface LocalServer {
  url: string;
  port: number;
  state: string;
  /** A token for this server; `expiresAt` (Unix seconds) instead of the default hour. */
  token: (scope: string, options?: { subject?: string; expiresAt?: number }) => Promise<string>;
  stop: () => Promise<void>;
}

/** Seeds `files` demo objects, then starts the server with `vars` (wrangler dev --var) set. */
export async function startLocalServer(options: {
  files: number;
  vars?: Record<string, string>;
}): Promise<LocalServer> {
  const state = mkdtempSync(join(tmpdir(), "r2-backup-local-"));
  seedState(state, ["--files", String(options.files), "--large", "0"]);
  const port = await freePort();
  const vars = Object.entries(options.vars ?? {}).flatMap(([key, value]) => ["--var", `${key}:${value}`]);
  const server = await startServer(port, state, vars);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    state,
    token: (scope, { subject = "local-test", expiresAt }: { subject?: string; expiresAt?: number } = {}) =>
      signLocalToken({ scope, sub: subject, expiresAt }),
    stop: async () => {
      await stopServer(server);
      rmSync(state, { recursive: true, force: true });
    },
  };
}
