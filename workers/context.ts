/** Authenticated handlers: the token checked, the scope required, the call audited. */
import type { IRequest } from "itty-router";
import { authenticate, requireScope, type Scope } from "./auth";
import { getConfig } from "../durable-objects/engine/settings/config";
import type { AuditAction } from "../schema";
import { audited } from "./audit";
import type { Handler, HandlerContext } from "./handler-context";

export type { Handler, HandlerContext } from "./handler-context";

/**
 * Wraps a handler so it runs only for a valid token carrying `scope` (null: every valid token; the
 * handler checks the scope itself once it knows what is asked, as cancel does). A mutating call
 * names its `audit` action: once the caller is known, its outcome is recorded in the audit trail,
 * refusals (a missing scope, bad input) included; a call without a valid token has no actor to
 * record and is not.
 */
export function authorized(
  scope: Scope | null,
  handler: Handler,
  audit?: AuditAction,
  auditDetail?: (context: HandlerContext) => string | null,
) {
  return async (request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> => {
    const config = getConfig(env);
    const principal = await authenticate(request, config);
    const context: HandlerContext = { request, url: new URL(request.url), env, ctx, config, principal };
    const run = () => {
      if (scope) requireScope(principal, scope);
      return handler(context);
    };
    return audit ? audited(audit, context, run, auditDetail) : run();
  };
}
