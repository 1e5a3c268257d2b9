import { exports } from "cloudflare:workers";
import { mintToken } from "./tokens";

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

/** Calls the Worker's own fetch handler, with an admin token unless `token` says otherwise. */
export async function api<T = any>(
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string | null } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? await mintToken() : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const response = await exports.default.fetch(new Request(`http://backup.test${path}`, { method, headers, body }));
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The Worker's raw answer (a download's bytes, an error's headers), with an admin token unless `token` says otherwise. */
export async function apiResponse(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; token?: string | null; body?: unknown } = {},
): Promise<Response> {
  const token = options.token === undefined ? await mintToken() : options.token;
  const headers: Record<string, string> = { ...options.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return exports.default.fetch(new Request(`http://backup.test${path}`, { method, headers, body }));
}
