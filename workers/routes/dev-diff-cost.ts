/**
 * GET /api/dev/diff-cost?from=&to= (local development only, like the other dev routes): runs the
 * whole diff of two snapshots inside the server and says what it cost in manifest chunks read,
 * beside what reading both trees whole would (every page and leaf of each). For `npm run bench --
 * --change`, which cannot see the server's reads from outside.
 */
import { countChangesAndReads } from "../../durable-objects/engine/snapshot-reader";
import type { HandlerContext } from "../context";
import { jsonResponse } from "../http-error";
import { parseQuery } from "../request-body";
import { devDiffCostQuery } from "../schemas";
import { findBackup } from "./backups";
import { requireDevRoutes } from "./dev";
import { requireSnapshot } from "./snapshot-state";

export async function devDiffCost(context: HandlerContext): Promise<Response> {
  requireDevRoutes(context);
  const query = parseQuery(context.url, devDiffCostQuery);
  const [from, to] = await Promise.all([findBackup(context, query.from), findBackup(context, query.to)]);
  await requireSnapshot(context, from, "compared");
  await requireSnapshot(context, to, "compared");
  const started = performance.now();
  const cost = await countChangesAndReads(context.env, from.id, to.id);
  return jsonResponse({ from: from.id, to: to.id, ...cost, milliseconds: Math.round(performance.now() - started) });
}
