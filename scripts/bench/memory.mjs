// Peak resident memory of the dev server's workerd process (Linux: VmHWM in /proc), the figure
// the bench reports per data set. The server is restarted per data set, so the peak is that set's.
import { readdirSync, readFileSync } from "node:fs";

function parentOf(pid) {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** The pids of workerd processes started (at any depth) by `rootPid`. */
export function workerdPids(rootPid) {
  const pids = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
  const descends = (pid) => {
    for (let p = pid, depth = 0; p && p > 1 && depth < 10; p = parentOf(p), depth++) if (p === rootPid) return true;
    return false;
  };
  return pids.filter((pid) => commandOf(pid).startsWith("workerd") && descends(pid));
}

/** Peak resident set in MiB of the server's workerd (null where /proc is not available). */
export function peakMemoryMiB(rootPid) {
  let peak = null;
  for (const pid of workerdPids(rootPid)) {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (match) peak = Math.max(peak ?? 0, Number(match[1]) / 1024);
  }
  return peak;
}
