/**
 * The command-line client's answer to a refused start (scripts/cli/client.mjs), against a small
 * server on this machine's loopback: a 409 from a lease holder that has ended and is letting go
 * (`details.finishing`, Retry-After) is asked again; a running holder's 409 is final.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { CliError, createClient, EXIT } from "../../scripts/cli/client.mjs";

let server: Server | null = null;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** Serves `answers` in turn (the last one again once they run out); returns the base URL and the requests seen. */
async function serving(answers: { status: number; body: unknown; headers?: Record<string, string> }[]) {
  let served = 0;
  server = createServer((request, response) => {
    const answer = answers[Math.min(served++, answers.length - 1)]!;
    response.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
    response.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, served: () => served };
}

const conflict = (finishing: boolean) => ({
  status: 409,
  body: { error: { code: "conflict", message: "A backup of cutty-files …", details: { backupId: "bk-1", finishing } } },
  ...(finishing ? { headers: { "retry-after": "1" } } : {}),
});

describe("the command-line client's starts", () => {
  it("asks again while the holder of the bucket is finishing, and gets the start", async () => {
    const { url, served } = await serving([
      conflict(true),
      conflict(true),
      { status: 202, body: { job: { id: "j" } } },
    ]);
    const client = createClient({ url, token: "t", timeoutMs: 5_000 });
    const started = Date.now();
    expect(await client.post("/backup/restore/bk-0", {})).toEqual({ job: { id: "j" } });
    expect(served()).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900); // Retry-After: 1, twice
  });

  it("takes a running holder's refusal as final", async () => {
    const { url, served } = await serving([conflict(false), { status: 202, body: {} }]);
    const client = createClient({ url, token: "t", timeoutMs: 5_000 });
    const refused = await client.post("/backup/restore/bk-0", {}).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CliError);
    expect((refused as { exitCode: number }).exitCode).toBe(EXIT.badInput);
    expect(served()).toBe(1);
  });
});
