/**
 * The one error type route handlers throw, and the mapping of every failure to the contract's
 * error JSON: `{ "error": { "code", "message", "details" } }`.
 */
import { ConfigError } from "../durable-objects/engine/settings/config";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options);
    this.name = "HttpError";
    this.headers = options?.headers ?? {};
  }

  /** Headers the answer carries besides the JSON's (a 416's Content-Range). */
  readonly headers: Record<string, string>;
}

export const badRequest = (message: string, details: Record<string, unknown> = {}) =>
  new HttpError(400, "validation_failed", message, details);
export const notFound = (message: string) => new HttpError(404, "not_found", message);
export const conflict = (message: string, details: Record<string, unknown> = {}) =>
  new HttpError(409, "conflict", message, details);

export function jsonResponse(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    // nosniff: a client must never take an answer for anything but the JSON it says it is.
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...headers,
    },
  });
}

export function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) {
    const headers: Record<string, string> = {
      ...error.headers,
      ...(error.status === 401 ? { "www-authenticate": 'Bearer realm="r2-backup"' } : {}),
    };
    return jsonResponse(
      { error: { code: error.code, message: error.message, details: error.details } },
      error.status,
      headers,
    );
  }
  if (error instanceof ConfigError) {
    // The operator must see which variable is wrong; its value is never echoed.
    console.error(error.message);
    return jsonResponse(
      { error: { code: "configuration_invalid", message: error.message, details: { variables: error.variables } } },
      500,
    );
  }
  console.error("unhandled error", error instanceof Error ? (error.stack ?? error.message) : error);
  return jsonResponse(
    { error: { code: "internal_error", message: "An unexpected error occurred.", details: {} } },
    500,
  );
}
