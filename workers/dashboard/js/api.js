// Calls to the API with the session's token. A 401 ends the session (expired or revoked token)
// and sends the reader back to sign in with the server's reason; other errors carry the server's
// message as is.
import { currentSession, signOut } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const TIMEOUT_MS = 20_000;

export async function api(method, path, body) {
  const session = currentSession();
  if (!session) {
    signOut("Sign in to continue.");
    throw new ApiError(401, "unauthorized", "Not signed in.");
  }
  let response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${session.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new ApiError(
      0,
      "unreachable",
      `The server did not answer (${error.name === "TimeoutError" ? "timed out" : error.message}).`,
    );
  }
  const json = await response.json().catch(() => null);
  if (response.status === 401) {
    const reason = json?.error?.message ?? "The token was refused.";
    signOut(`Signed out: ${reason}`);
    throw new ApiError(401, json?.error?.code ?? "unauthorized", reason);
  }
  if (!response.ok)
    throw new ApiError(
      response.status,
      json?.error?.code ?? "error",
      json?.error?.message ?? `HTTP ${response.status}`,
      json?.error?.details,
    );
  return json;
}

/** Polls a job until it ends, calling `onUpdate` with each reading. */
export async function waitForJob(jobId, onUpdate, intervalMs = 1000) {
  for (;;) {
    const { job } = await api("GET", `/backup/jobs/${encodeURIComponent(jobId)}`);
    onUpdate?.(job);
    if (job.status !== "pending" && job.status !== "in_progress") return job;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
