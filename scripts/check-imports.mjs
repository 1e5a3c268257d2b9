#!/usr/bin/env node
// `npm run lint` step: the import rules of durable-objects/engine/README.md, checked over the
// import graph of workers/, durable-objects/ and schema/ (type-only imports included: they say
// where a file's knowledge comes from). Fails on an import across a rule and on any circle.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { scriptArgs } from "./script-args.mjs";

scriptArgs({
  usage: `Usage: node scripts/check-imports.mjs
Checks the import rules (durable-objects/engine/README.md) and that no files import each other in
a circle, over workers/, durable-objects/ and schema/. Exit 1 with one line per problem.`,
});

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const SOURCES = ["workers", "durable-objects", "schema"];
const ENGINE = "durable-objects/engine/";
/** The engine's step folders: each imports the shared modules and format/, never another. */
const STEP_FOLDERS = ["backup", "verify", "restore", "replica", "cleanup"];
/**
 * What format/ may use besides itself: the engine's leaf modules (they import nothing of the
 * engine but each other: concurrency.ts yields through cooperative.ts).
 */
const FORMAT_MAY_USE = new Set([`${ENGINE}errors.ts`, `${ENGINE}cooperative.ts`, `${ENGINE}concurrency.ts`]);
/** Allowed imports between step folders: the restore reads manifests through the replica's fallback. */
const STEP_EXCEPTIONS = new Set(["restore -> replica/fallback-reader.ts"]);

/** The rule an import breaks, or null. `from` and `to` are paths relative to the root. */
function broken(from, to) {
  const layer = (path) =>
    path.startsWith("schema/")
      ? 0
      : path.startsWith(ENGINE)
        ? 1
        : path.startsWith("durable-objects/")
          ? 2
          : path.startsWith("workers/")
            ? 3
            : null;
  if (layer(to) > layer(from)) return "imports upward (schema < engine < job objects < edge)";
  if (from.startsWith("workers/") && to.startsWith(`${ENGINE}format/`))
    return "the edge reads snapshots through engine/snapshot-reader.ts, not the storage format";
  if (
    from.startsWith(`${ENGINE}format/`) &&
    to.startsWith(ENGINE) &&
    !to.startsWith(`${ENGINE}format/`) &&
    !FORMAT_MAY_USE.has(to)
  ) {
    return "format/ imports nothing else of the engine but its leaf modules (errors, cooperative, concurrency)";
  }
  const folderOf = (path) => (path.startsWith(ENGINE) ? path.slice(ENGINE.length).split("/")[0] : null);
  const [a, b] = [folderOf(from), folderOf(to)];
  if (STEP_FOLDERS.includes(a) && STEP_FOLDERS.includes(b) && a !== b) {
    return STEP_EXCEPTIONS.has(`${a} -> ${to.slice(ENGINE.length)}`)
      ? null
      : `engine/${a}/ imports engine/${b}/ (step folders import the shared modules, never each other)`;
  }
  return null;
}

function sourceFiles(dir) {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"/gms;

/** The project file a relative specifier names (`./x` is `./x.ts` or `./x/index.ts`). */
function target(from, specifier) {
  const base = join(dirname(from), specifier);
  for (const candidate of [`${base}.ts`, join(base, "index.ts"), base]) {
    try {
      if (statSync(join(ROOT, candidate)).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

const graph = new Map();
for (const file of SOURCES.flatMap(sourceFiles)) {
  const text = readFileSync(join(ROOT, file), "utf8");
  const targets = [...text.matchAll(IMPORT)]
    .map((m) => target(file, m[1]))
    .filter((t) => t && SOURCES.some((s) => t.startsWith(`${s}/`)));
  graph.set(file, [...new Set(targets)]);
}

const problems = [];
for (const [from, targets] of graph) {
  for (const to of targets) {
    const rule = broken(from, to);
    if (rule) problems.push(`${from} -> ${to}: ${rule}`);
  }
}

// Circles: a depth-first walk; a file met again while still on the path closes one.
const state = new Map();
const path = [];
function walk(file) {
  state.set(file, "open");
  path.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === "open") problems.push(`circle: ${[...path.slice(path.indexOf(next)), next].join(" -> ")}`);
    else if (!state.has(next)) walk(next);
  }
  path.pop();
  state.set(file, "done");
}
for (const file of graph.keys()) if (!state.has(file)) walk(file);

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(
    `${problems.length} import problem(s); the rules are in ${relative(process.cwd(), join(ROOT, ENGINE, "README.md"))}.`,
  );
  process.exit(1);
}
console.log(`Imports: ${graph.size} files, no rule broken, no circle.`);
