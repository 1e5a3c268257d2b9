/**
 * Reading and validating request input. Bodies are capped before parsing; JSON is parsed into a
 * zod schema that rejects unknown fields; query strings are validated the same way.
 */
import { z } from "zod";
import { badRequest, HttpError } from "./http-error";

export const MAX_BODY_BYTES = 16 * 1024;

/** Reads the body as text, refusing more than MAX_BODY_BYTES whatever Content-Length claims. */
async function readCappedText(request: Request): Promise<string> {
  const tooLarge = () =>
    new HttpError(413, "payload_too_large", `Request body must be at most ${MAX_BODY_BYTES} bytes.`, {
      limit: MAX_BODY_BYTES,
    });
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badRequest("Request body must be UTF-8 encoded JSON.");
  }
}

/**
 * Parses the JSON body into `schema`. An empty body is treated as `{}` when `allowEmpty` is set
 * (endpoints whose body is optional).
 */
export async function parseJsonBody<S extends z.ZodType>(
  request: Request,
  schema: S,
  options: { allowEmpty?: boolean } = {},
): Promise<z.output<S>> {
  const text = await readCappedText(request);
  let value: unknown;
  if (text.trim() === "") {
    if (!options.allowEmpty) throw badRequest("Request body is required: send a JSON object.");
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw badRequest(`Malformed JSON: ${error instanceof Error ? error.message : "cannot parse"}.`);
    }
  }
  return validate(schema, value, "body");
}

/** Validates query parameters; each may appear at most once and unknown ones are rejected. */
export function parseQuery<S extends z.ZodType>(url: URL, schema: S): z.output<S> {
  const raw: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (key in raw) throw badRequest(`Query parameter ${key} is given more than once.`, { field: key });
    raw[key] = value;
  }
  return validate(schema, raw, "query");
}

export function validate<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: "body" | "query" | "path",
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: describeIssue(issue) }));
  const first = issues[0]!;
  const subject = first.path === "" ? (where === "body" ? "body" : where) : first.path;
  throw badRequest(`${subject} ${first.message}`, { in: where, issues });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `has unknown field${issue.keys.length > 1 ? "s" : ""}: ${issue.keys.join(", ")}`;
    case "invalid_value":
      return `must be one of ${issue.values.map(String).join(", ")}`;
    case "invalid_type":
      return `must be ${issue.expected === "object" ? "a JSON object" : `of type ${issue.expected}`}`;
    default:
      return issue.message;
  }
}
