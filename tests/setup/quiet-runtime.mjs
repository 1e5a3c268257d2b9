// Lines workerd itself prints (on the test runner's stdout, not through console, so vitest's
// onConsoleLog never sees them) that the tests cause on purpose: a stream pump cancelled when an
// injected fault aborts a body mid-copy, followed by the runtime's own addresses as its "stack",
// and a connection "lost" when a test ends a Durable Object mid-request. They are dropped so that
// a real error stands out; every other line goes through untouched. Also the body of a download
// ended on purpose because its copy failed its check (tests/**/download*.test.ts): the runtime
// reports the failed transfer itself, and the test asserts the failure and its log line.
const EXPECTED_RUNTIME_LINES = [
  /^exception = .*disconnected: pump canceled$/,
  /^stack: (\S*workerd@\w+ ?)+$/,
  /Network connection lost\.?$/,
  /^uncaught exception; exception = .*jsg\.Error: (the backup's copy (does not match|holds|ended)|reading the backup's copy failed)/,
];
const COLOURS = /\x1b\[[0-9;]*m/g;

function filter(stream) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    if (typeof chunk !== "string" && !(chunk instanceof Uint8Array)) return write(chunk, ...rest);
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    const lines = text.split("\n");
    const kept = lines.filter(
      (line) => !EXPECTED_RUNTIME_LINES.some((pattern) => pattern.test(line.replace(COLOURS, ""))),
    );
    if (kept.length === lines.length) return write(chunk, ...rest);
    if (kept.every((line) => line === "")) {
      // Nothing left to print; a callback, if given, still runs.
      rest.find((r) => typeof r === "function")?.();
      return true;
    }
    return write(kept.join("\n"), ...rest);
  };
}

export function quietExpectedRuntimeLines() {
  filter(process.stdout);
  filter(process.stderr);
}
