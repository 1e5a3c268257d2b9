/**
 * A D1 database whose calls (a statement's run, all, first or raw; a batch; an exec) each pass
 * through `around`, which makes the call and may wait, count or fail around it. Used to shape D1
 * like production for benches (d1-latency.ts) and by the fault tests to watch every call.
 */
export type D1Call = "run" | "all" | "first" | "raw" | "batch" | "exec";

const STATEMENT_CALLS: ReadonlySet<string> = new Set<D1Call>(["run", "all", "first", "raw"]);

export function aroundD1Calls(
  db: D1Database,
  around: <T>(call: D1Call, make: () => Promise<T>) => Promise<T>,
): D1Database {
  // A batch must be given the statements D1 made; the wrappers handed out stand for them.
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrapStatement = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy: D1PreparedStatement = new Proxy(statement, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== "function") return value;
        if (property === "bind") return (...values: unknown[]) => wrapStatement(target.bind(...values));
        if (!STATEMENT_CALLS.has(String(property))) return value.bind(target);
        return (...args: unknown[]) => around(property as D1Call, () => value.apply(target, args));
      },
    });
    real.set(proxy, statement);
    return proxy;
  };
  return new Proxy(db, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      switch (property) {
        case "prepare":
          return (query: string) => wrapStatement(target.prepare(query));
        case "batch":
          return (statements: D1PreparedStatement[]) =>
            around("batch", () => target.batch(statements.map((statement) => real.get(statement) ?? statement)));
        case "exec":
          return (query: string) => around("exec", () => target.exec(query));
        default:
          return value.bind(target);
      }
    },
  });
}
