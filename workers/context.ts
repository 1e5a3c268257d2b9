/** What every authenticated handler receives: the request, its validated config and caller. */
import type { IRequest } from "itty-router";
import { authenticate, requireScope, type Principal, type Scope } from "./auth";
import { getConfig, type Config } from "../durable-objects/config";

export interface HandlerContext {
  request: IRequest;
  url: URL;
  env: Env;
  ctx: ExecutionContext;
  config: Config;
  principal: Principal;
}

export type Handler = (context: HandlerContext) => Promise<Response>;

/**
 * Wraps a handler so it runs only for a valid token carrying `scope` (null: every valid token; the
 * handler checks the scope itself once it knows what is asked, as cancel does).
 */
export function authorized(scope: Scope | null, handler: Handler) {
  return async (request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> => {
    const config = getConfig(env);
    const principal = await authenticate(request, config);
    if (scope) requireScope(principal, scope);
    return handler({ request, url: new URL(request.url), env, ctx, config, principal });
  };
}
