// What the client prints: tables for people, JSON for scripts (--json), a progress line that
// redraws itself on a terminal and prints a line per change elsewhere.

// Sizes read the same here as on the dashboard (a plain module, no DOM).
export { bytes } from "../../workers/dashboard/js/format.js";

export function seconds(value) {
  return value === null || value === undefined ? "-" : `${value.toFixed(1)} s`;
}

/** A plain text table: a header row and aligned columns. */
export function table(columns, rows) {
  const cells = rows.map((row) => columns.map((column) => String(column.value(row) ?? "-")));
  const widths = columns.map((column, i) => Math.max(column.title.length, ...cells.map((row) => row[i].length)));
  const line = (values) =>
    values
      .map((value, i) => (columns[i].right ? value.padStart(widths[i]) : value.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join("\n");
}

/** Key: value lines. */
export function fields(pairs) {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${value ?? "-"}`).join("\n");
}

export function printJson(value) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * `[#####-----]  45 %` against an estimated total. Work that is still running never shows 100 %
 * (an estimate can be short), and without an estimate there is no bar: the caller prints what is
 * known (objects and bytes so far, a rate) instead.
 */
export function bar(done, total, { running = false, width = 24 } = {}) {
  if (!total) return "";
  const percent = Math.min(running ? 99 : 100, Math.floor((100 * done) / total));
  const filled = Math.min(width, Math.floor((percent / 100) * width));
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(percent).padStart(3)} %`;
}

/** A result value as one short token: objects and lists as compact JSON, never `[object Object]`. */
export function plain(value) {
  return value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Progress on stderr (stdout stays for results): redrawn in place on a terminal. */
export function progressWriter() {
  const tty = process.stderr.isTTY;
  let last = "";
  return {
    update(text) {
      if (text === last) return;
      last = text;
      if (tty) process.stderr.write(`\r\x1b[2K${text}`);
      else process.stderr.write(`${text}\n`);
    },
    done() {
      if (tty && last) process.stderr.write("\n");
    },
  };
}
