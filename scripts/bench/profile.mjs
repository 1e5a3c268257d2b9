// `npm run bench -- --fan-out --profile RUN`: a CPU profile of one fan-out run's backup and
// restore, taken through the dev server's inspector (the Chrome DevTools protocol's Profiler) in
// the isolate that runs the Worker and every job object. Where the local CPU goes is what binds
// a fan-out on this machine past a few shards (docs/performance.md); a profile says whose it is.
// The R2 and D1 simulators run in isolates of their own, so their work shows here as "(idle)":
// this isolate waiting while the workerd thread serves them (or the latency layer's timers run).
//
// Each profile is saved as a .cpuprofile (Chrome DevTools and VS Code open it) and summarized:
// the share of idle time, garbage collection and the runtime's own work, and the functions with
// the most self time.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Microseconds between samples: fine enough for steps of a few milliseconds, cheap enough to leave the run's shape. */
const SAMPLING_INTERVAL_US = 500;

/** A Chrome DevTools protocol session over the inspector's WebSocket. */
async function devtoolsSession(inspectorPort) {
  if (typeof WebSocket !== "function")
    throw new Error("--profile needs Node's WebSocket: Node 22, or Node 20 with --experimental-websocket");
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`the inspector on port ${inspectorPort} lists no target to profile`);
  // wrangler's inspector proxy answers only the devtools' origins, localhost among them.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { Origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error(`cannot open ${target.webSocketDebuggerUrl}`)), {
      once: true,
    });
  });
  const pending = new Map();
  let lastId = 0;
  let closed = null;
  const failAll = (error) => {
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
  };
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(String(event.data));
    } catch (error) {
      return failAll(new Error(`the inspector sent something that is not JSON: ${error.message}`));
    }
    const waiting = pending.get(message.id);
    if (!waiting) return; // an event, not an answer
    pending.delete(message.id);
    if (message.error) waiting.reject(new Error(`${waiting.method}: ${message.error.message}`));
    else waiting.resolve(message.result);
  });
  // A dropped connection fails what waits on it (Profiler.stop would otherwise never settle).
  socket.addEventListener("close", () => {
    closed = new Error(`the inspector's connection closed (${target.webSocketDebuggerUrl})`);
    failAll(closed);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        if (closed) return reject(closed);
        const id = ++lastId;
        pending.set(id, { resolve, reject, method });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/** Runs `work` under the profiler; saves the profile to `file` and returns work's result and the summary's lines. */
export async function profiled(inspectorPort, file, work) {
  const session = await devtoolsSession(inspectorPort);
  try {
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    await session.send("Profiler.start");
    const result = await work();
    const { profile } = await session.send("Profiler.stop");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    return { result, summary: summarizeProfile(profile) };
  } finally {
    session.close();
  }
}

/** The runtime's own entries in a profile, named in parentheses. */
const RUNTIME = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/** Self time by function (its name and where it is defined), largest first, and the runtime's shares. */
export function summarizeProfile(profile, top = 15) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const name = functionName || "(anonymous)";
    const where = url ? `${url.split("/").at(-1)}:${lineNumber + 1}` : "";
    const key = RUNTIME.has(name) ? name : `${name}${where ? ` (${where})` : ""}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    totalUs += delta;
  });
  const share = (us) => `${((100 * us) / Math.max(totalUs, 1)).toFixed(1)}%`;
  const runtime = [...RUNTIME].map((name) => `${name} ${share(selfUs.get(name) ?? 0)}`).join(", ");
  const busy = [...selfUs].filter(([name]) => !RUNTIME.has(name)).reduce((sum, [, us]) => sum + us, 0);
  const functions = [...selfUs]
    .filter(([name]) => !RUNTIME.has(name))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `    ${share(us).padStart(6)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  return [
    `  ${(totalUs / 1e6).toFixed(1)} s sampled: JavaScript ${share(busy)}; ${runtime}`,
    `  the ${functions.length} functions with the most self time:`,
    ...functions,
  ];
}
