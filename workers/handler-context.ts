/** What every authenticated handler receives: the request, its validated config and caller. */
import type { IRequest } from "itty-router";
import type { Principal } from "./auth";
import type { Config } from "../durable-objects/engine/settings/config";

export interface HandlerContext {
  request: IRequest;
  url: URL;
  env: Env;
  ctx: ExecutionContext;
  config: Config;
  principal: Principal;
}

export type Handler = (context: HandlerContext) => Promise<Response>;
