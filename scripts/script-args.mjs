// How every script of the project reads its options: `--help` (or `-h`) prints its usage and exits
// 0; an unknown or malformed option is one line on stderr and exit 2, never a stack trace.
import { parseArgs } from "node:util";

export function scriptArgs({
  usage,
  options = {},
  allowNegative = false,
  allowPositionals = false,
  args = process.argv.slice(2),
}) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowNegative,
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    console.error(`${String(error.message).split("\n")[0]} (--help for the usage)`);
    process.exit(2);
  }
  if (parsed.values.help) {
    console.log(usage.trim());
    process.exit(0);
  }
  return allowPositionals ? parsed : parsed.values;
}

/** A whole number option from `min` up, or one line and exit 2. */
export function wholeNumberOption(values, name, min = 0) {
  const n = Number(values[name]);
  if (!/^\d+$/.test(String(values[name])) || n < min) {
    console.error(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ""} (got ${values[name]})`);
    process.exit(2);
  }
  return n;
}
