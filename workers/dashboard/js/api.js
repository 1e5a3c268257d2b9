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

/** The answer, sent with the session's token; `signal` bounds the wait (null for a download, whose body may be long). */
async function send(method, path, body, signal = AbortSignal.timeout(TIMEOUT_MS)) {
  const session = currentSession();
  if (!session) {
    signOut("Sign in to continue.");
    throw new ApiError(401, "unauthorized", "Not signed in.");
  }
  try {
    return await fetch(`/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${session.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    throw new ApiError(
      0,
      "unreachable",
      `The server did not answer (${error.name === "TimeoutError" ? "timed out" : error.message}).`,
    );
  }
}

export async function api(method, path, body) {
  const response = await send(method, path, body);
  if (!response.ok) await refusal(response);
  return response.json().catch(() => null);
}

/**
 * One object's content as it was in a backup, as a Blob. The server checks it while it streams
 * and ends a damaged copy's transfer short; the browser's read then fails, and so does this.
 */
export async function downloadObject(backupId, key) {
  const response = await send(
    "GET",
    `/backup/object/${encodeURIComponent(backupId)}?${new URLSearchParams({ key })}`,
    undefined,
    null,
  );
  if (!response.ok) await refusal(response);
  try {
    return await response.blob();
  } catch (error) {
    throw new ApiError(
      0,
      "download_failed",
      `The download of ${key} broke off: the backup's copy did not check out (${error.message}). The backup's log says why.`,
    );
  }
}

/** Throws the server's refusal (a 401 ends the session). */
async function refusal(response) {
  const json = await response.json().catch(() => null);
  if (response.status === 401) {
    const reason = json?.error?.message ?? "The token was refused.";
    signOut(`Signed out: ${reason}`);
    throw new ApiError(401, json?.error?.code ?? "unauthorized", reason);
  }
  throw new ApiError(
    response.status,
    json?.error?.code ?? "error",
    json?.error?.message ?? `HTTP ${response.status}`,
    json?.error?.details,
  );
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
