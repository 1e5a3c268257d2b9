/** The REST routes of the API contract, registered from the route table (api-routes.ts). */
import { Router, type IRequest } from "itty-router";
import { API_ROUTES } from "./api-routes";
import { authorized } from "./context";
import { errorResponse, HttpError, jsonResponse } from "./http-error";
import { openApiDocument } from "./openapi/document";
import { parseQuery } from "./request-body";
import { z } from "zod";

/** `/backup/status/:id` → a pattern matching `/api/backup/status/<anything but />`. */
const patternOf = (path: string) => new RegExp(`^/api${path.replace(/:\w+/g, "[^/]+")}$`);

const PUBLIC_PATHS = ["/health", "/openapi.json"];

/** Every path the API serves, so a known path with another method is 405 and anything else 404. */
const KNOWN_PATHS = [...PUBLIC_PATHS, ...API_ROUTES.map((route) => route.path)].map(patternOf);

export const router = Router<IRequest, [Env, ExecutionContext]>({
  base: "/api",
  catch: errorResponse,
});

let document: ReturnType<typeof openApiDocument> | undefined;

/**
 * One rule for every endpoint: a query parameter it does not define is a 400 (those with a query
 * schema refuse unknown ones in their parsing; this covers those without one).
 */
function withoutQuery<A extends unknown[]>(handle: (request: IRequest, ...rest: A) => Response | Promise<Response>) {
  return (request: IRequest, ...rest: A) => {
    parseQuery(new URL(request.url), NO_QUERY);
    return handle(request, ...rest);
  };
}
const NO_QUERY = z.strictObject({});

router
  .get(
    "/health",
    withoutQuery(() => jsonResponse({ ok: true })),
  )
  // Public, like the contract it describes; built once per isolate.
  .get(
    "/openapi.json",
    withoutQuery(() =>
      jsonResponse((document ??= openApiDocument(API_ROUTES)), 200, { "cache-control": "public, max-age=300" }),
    ),
  );

for (const route of API_ROUTES) {
  const authorizedHandler = authorized(route.scope, route.handle, route.audit, route.auditDetail);
  const handler = route.query ? authorizedHandler : withoutQuery(authorizedHandler);
  if (route.method === "GET") router.get(route.path, handler);
  else if (route.method === "PUT") router.put(route.path, handler);
  else if (route.method === "DELETE") router.delete(route.path, handler);
  else router.post(route.path, handler);
}

router.all("*", (request) => {
  const path = new URL(request.url).pathname;
  if (KNOWN_PATHS.some((pattern) => pattern.test(path)))
    throw new HttpError(405, "method_not_allowed", `Method ${request.method} is not allowed on ${path}.`);
  throw new HttpError(404, "not_found", "No such endpoint.");
});
