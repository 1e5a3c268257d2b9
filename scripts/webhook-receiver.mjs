#!/usr/bin/env node
// `npm run webhook-receiver [-- --port 8790] [--fail N]`: a small webhook receiver for local
// development. It prints every delivery with its event and id and checks its signature with
// BACKUP_WEBHOOK_SECRET (from the environment or .dev.vars), following the recipe in
// docs/operations.md. Point the local server at it with
//   BACKUP_WEBHOOK_URL="http://127.0.0.1:8790/hook" in .dev.vars.
// `--fail N` answers 500 to the first N deliveries, to watch the retries.
//
// The tests start the same receiver (createReceiver) and drive it through its /control routes.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";

/** Receivers should refuse deliveries signed longer ago than this (a replayed recording). */
export const MAX_SIGNATURE_AGE_SECONDS = 5 * 60;

/** The documented check: HMAC-SHA256 of `<timestamp>.<raw body>`, compared in constant time. */
export function signatureValid(secret, timestamp, rawBody, header) {
  const expected = Buffer.from(
    `sha256=${createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex")}`,
  );
  const given = Buffer.from(String(header ?? ""));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** ...and a fresh timestamp, so a recorded delivery cannot be played again later. */
export function timestampFresh(timestamp, now = Date.now()) {
  return Math.abs(now / 1000 - Number(timestamp)) <= MAX_SIGNATURE_AGE_SECONDS;
}

/**
 * A receiver on 127.0.0.1. POST /hook records a delivery and answers 204, or 401 when its
 * signature does not verify, or 500 while `failNext` is above 0, or never while `hang` is set. /control/{deliveries,mode,reset} let a test read what
 * arrived and choose how the next ones are answered.
 */
export function createReceiver({ secret, log = () => {} }) {
  const deliveries = [];
  let mode = { failNext: 0, hang: false };
  const hanging = new Set();
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const url = new URL(request.url ?? "/", "http://receiver");
      const json = (status, value) =>
        response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      if (url.pathname === "/control/deliveries") return json(200, { deliveries });
      if (url.pathname === "/control/mode") {
        mode = { ...mode, ...JSON.parse(body || "{}") };
        return json(200, mode);
      }
      if (url.pathname === "/control/reset") {
        deliveries.length = 0;
        mode = { failNext: 0, hang: false };
        return json(200, mode);
      }
      if (request.method !== "POST" || url.pathname !== "/hook") return json(404, { error: "not found" });
      const timestamp = request.headers["x-backup-timestamp"];
      const delivery = {
        id: request.headers["x-backup-delivery"],
        event: request.headers["x-backup-event"],
        timestamp,
        valid: signatureValid(secret, timestamp, body, request.headers["x-backup-signature"]),
        fresh: timestampFresh(timestamp),
        body,
      };
      // A bad signature is refused, as a real receiver must (the sender retries it, visibly).
      delivery.answered = mode.hang ? "never" : !delivery.valid ? 401 : mode.failNext > 0 ? 500 : 204;
      deliveries.push(delivery);
      log(delivery);
      if (mode.hang) return hanging.add(response);
      if (!delivery.valid) return json(401, { error: "signature does not verify" });
      if (mode.failNext > 0) {
        mode.failNext -= 1;
        return json(500, { error: "failing on purpose" });
      }
      response.writeHead(204).end();
    });
  });
  return {
    server,
    deliveries,
    listen: (port = 0) =>
      new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server.address().port))),
    close: () =>
      new Promise((resolve) => {
        for (const response of hanging) response.destroy();
        server.close(() => resolve());
      }),
    setMode: (next) => (mode = { ...mode, ...next }),
  };
}

async function main() {
  const { readDevVars } = await import("./dev-vars.mjs");
  const { scriptArgs, wholeNumberOption } = await import("./script-args.mjs");
  const values = scriptArgs({
    usage: `Usage: npm run webhook-receiver -- [--port N] [--fail N]
Receives the server's webhooks on 127.0.0.1 and prints each delivery and whether its signature
holds (BACKUP_WEBHOOK_SECRET from .dev.vars or the environment).

  --port N   the port (default 8790)
  --fail N   answer the next N deliveries with 500, to see the retries`,
    options: { port: { type: "string", default: "8790" }, fail: { type: "string", default: "0" } },
  });
  const secret = process.env.BACKUP_WEBHOOK_SECRET ?? readDevVars().BACKUP_WEBHOOK_SECRET;
  if (!secret) {
    console.error("Set BACKUP_WEBHOOK_SECRET (in .dev.vars or the environment) to the server's webhook secret.");
    process.exit(2);
  }
  const receiver = createReceiver({
    secret,
    log: (d) =>
      console.log(
        `${new Date().toISOString()}  ${d.event}  ${d.id}  signature ${d.valid ? "OK" : "INVALID"}${d.fresh ? "" : " (stale timestamp)"}  answered ${d.answered}\n  ${d.body.slice(0, 400)}`,
      ),
  });
  receiver.setMode({ failNext: wholeNumberOption(values, "fail") });
  const port = await receiver.listen(wholeNumberOption(values, "port"));
  console.log(`Webhook receiver on http://127.0.0.1:${port}/hook (checking signatures with BACKUP_WEBHOOK_SECRET)`);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => receiver.close().then(() => process.exit(0)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
