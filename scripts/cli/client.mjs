// The command-line client's HTTP side: the server's URL and token, a timeout on every request,
// and every failure turned into an exit code scripts can rely on (README, "Command-line client").

export const EXIT = {
  ok: 0,
  /** The backup or job ended failed, partial or cancelled, or a verification found problems. */
  jobFailed: 1,
  /** The request was refused as it stood: bad input, unknown id, conflicting work (400, 404, 409, 413). */
  badInput: 2,
  /** No token, or the server refused it (401), or it lacks the scope (403). */
  auth: 3,
  /** The server could not be reached or did not answer in time. */
  unreachable: 4,
  /** The server failed (5xx) or answered something that is not the API. */
  serverError: 5,
  /** --max-wait passed while the work was still running (it goes on in the background). */
  stillRunning: 6,
};

/** How long a start waits in all for a finishing holder to let go of the bucket. */
const FINISHING_WAIT_MS = 30_000;

export class CliError extends Error {
  constructor(exitCode, message) {
    super(message);
    this.exitCode = exitCode;
    /** Set on a refusal worth asking again after this many ms (a finishing lease holder's 409). */
    this.retryAfterMs = undefined;
  }
}

function exitCodeFor(status) {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status >= 500) return EXIT.serverError;
  return EXIT.badInput;
}

export function createClient({ url, token, timeoutMs }) {
  if (!token)
    throw new CliError(
      EXIT.auth,
      "No token: pass --token or set R2_BACKUP_TOKEN (locally, `r2-backup token` prints one).",
    );
  const base = url.replace(/\/+$/, "");

  /**
   * The server's answer, and `settle` to end its timeout: a JSON answer is read within the timeout
   * (`call`), a download's body may take as long as it takes once its headers have arrived.
   */
  async function send(method, path, { body } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
    try {
      const response = await fetch(`${base}/api${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
      return { response, settle: () => clearTimeout(timer) };
    } catch (error) {
      clearTimeout(timer);
      const why =
        error.name === "TimeoutError"
          ? `no answer within ${timeoutMs} ms`
          : (error.cause?.code ?? error.cause?.message ?? error.message);
      throw new CliError(EXIT.unreachable, `${base} is unreachable: ${why}`);
    }
  }

  async function callOnce(method, path, body) {
    const { response, settle } = await send(method, path, { body });
    try {
      return await answerOf(method, path, response);
    } finally {
      settle();
    }
  }

  /**
   * A start refused because the job holding the bucket has ended and is letting go of it (409
   * with `details.finishing` and Retry-After) is asked again after the wait the server names, for
   * up to FINISHING_WAIT_MS; a running holder's 409 is final.
   */
  async function call(method, path, body) {
    for (let waited = 0; ;) {
      try {
        return await callOnce(method, path, body);
      } catch (error) {
        const retry = error instanceof CliError ? error.retryAfterMs : undefined;
        if (retry === undefined || waited + retry > FINISHING_WAIT_MS) throw error;
        await new Promise((resolve) => setTimeout(resolve, retry));
        waited += retry;
      }
    }
  }

  async function answerOf(method, path, response) {
    let text;
    try {
      text = await response.text();
    } catch (error) {
      const why = error.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : error.message;
      throw new CliError(EXIT.unreachable, `${method} ${path}: the answer broke off (${why})`);
    }
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      throw new CliError(
        EXIT.serverError,
        `${method} ${path}: HTTP ${response.status}, not JSON (is ${base} the backup service?)`,
      );
    }
    if (!response.ok) {
      // The server's own message, as it gave it.
      const error = json?.error;
      const refused = new CliError(
        exitCodeFor(response.status),
        error ? `${error.code}: ${error.message}` : `HTTP ${response.status}`,
      );
      const retryAfter = Number(response.headers.get("retry-after"));
      if (response.status === 409 && error?.details?.finishing === true && retryAfter > 0)
        refused.retryAfterMs = Math.min(retryAfter, 10) * 1000;
      throw refused;
    }
    return json;
  }

  return {
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, body),
    delete: (path) => call("DELETE", path),
    /** A download: the answer with its body unread, or the server's refusal as a CliError. */
    async download(path) {
      const { response, settle } = await send("GET", path);
      if (response.ok) {
        settle();
        return response;
      }
      try {
        return await answerOf("GET", path, response);
      } finally {
        settle();
      }
    },
  };
}

/** Query string from the defined values only. */
export function query(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values))
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}
