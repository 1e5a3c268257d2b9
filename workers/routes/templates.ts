/**
 * /api/backup/templates (admin): named backup configurations in D1. The built-in `default` is
 * listed but cannot be changed here (it is the environment variables). A template's source must
 * be an R2 binding of this Worker other than the backup buckets, and one bucket has one binding:
 * two templates may share a bucket (they then never run at once: one coordinator, one lease),
 * but never name it through different bindings.
 */
import { eq } from "drizzle-orm";
import type { z } from "zod";
import { backupTemplates } from "../../schema";
import { openDatabase } from "../../durable-objects/engine/records";
import {
  allTemplates,
  DEFAULT_TEMPLATE,
  findTemplate,
  fromRow,
  sourceBucket,
  type BackupTemplate,
} from "../../durable-objects/engine/settings/templates";
import type { HandlerContext } from "../context";
import { badRequest, conflict, jsonResponse, notFound } from "../http-error";
import { parseJsonBody } from "../request-body";
import { createTemplateBody, templateBody } from "../schemas";
import { clock } from "../../durable-objects/engine/clock";

type TemplateOptions = z.output<typeof templateBody>;

/** The backup buckets are never a source: a template backing them up would back up its own output. */
const NOT_A_SOURCE = new Set(["R2_BACKUP_BUCKET", "R2_REPLICA_BUCKET"]);

const nameOf = (context: HandlerContext) => context.request.params.name!;

export async function requireTemplate(context: HandlerContext, name: string): Promise<BackupTemplate> {
  const template = await findTemplate(context.env, name);
  if (!template) throw notFound(`No backup template named ${name}.`);
  return template;
}

export async function listTemplates(context: HandlerContext): Promise<Response> {
  return jsonResponse({ templates: await allTemplates(context.env) });
}

export async function getTemplate(context: HandlerContext): Promise<Response> {
  return jsonResponse({ template: await requireTemplate(context, nameOf(context)) });
}

export async function createTemplate(context: HandlerContext): Promise<Response> {
  const { name, ...options } = await parseJsonBody(context.request, createTemplateBody);
  if (name === DEFAULT_TEMPLATE)
    throw conflict("The default template is built in: it is the environment variables (BACKUP_*).", { name });
  await checkOptions(context, name, options);
  const now = clock.date().toISOString();
  const row = { name, ...options, createdAt: now, updatedAt: now, updatedBy: context.principal.subject };
  const [created] = await openDatabase(context.env.DB)
    .insert(backupTemplates)
    .values(row)
    .onConflictDoNothing()
    .returning();
  if (!created) throw conflict(`A backup template named ${name} exists already; change it with PUT.`, { name });
  return jsonResponse({ template: fromRow(created) }, 201);
}

export async function updateTemplate(context: HandlerContext): Promise<Response> {
  const name = nameOf(context);
  const options = await parseJsonBody(context.request, templateBody);
  refuseDefault(name);
  await requireTemplate(context, name);
  await checkOptions(context, name, options);
  const values = { ...options, updatedAt: clock.date().toISOString(), updatedBy: context.principal.subject };
  const [row] = await openDatabase(context.env.DB)
    .update(backupTemplates)
    .set(values)
    .where(eq(backupTemplates.name, name))
    .returning();
  if (!row) throw notFound(`No backup template named ${name}.`); // deleted meanwhile
  return jsonResponse({ template: fromRow(row) });
}

/** Its backups stay, and keep its name; a backup of it that runs finishes with the options it started with. */
export async function deleteTemplate(context: HandlerContext): Promise<Response> {
  const name = nameOf(context);
  refuseDefault(name);
  const template = await requireTemplate(context, name);
  await openDatabase(context.env.DB).delete(backupTemplates).where(eq(backupTemplates.name, name));
  return jsonResponse({ template: template });
}

function refuseDefault(name: string): void {
  if (name === DEFAULT_TEMPLATE)
    throw conflict("The default template is built in: change it with the environment variables (BACKUP_*).", { name });
}

/** What the schema cannot know: the Worker's bindings, the encryption key, and the other templates. */
async function checkOptions(context: HandlerContext, name: string, options: TemplateOptions): Promise<void> {
  const { sourceBinding, bucketName } = options;
  if (NOT_A_SOURCE.has(sourceBinding) || !sourceBucket(context.env, sourceBinding)) {
    throw badRequest(`sourceBinding: ${sourceBinding} is not an R2 source bucket bound to this Worker.`, {
      field: "sourceBinding",
    });
  }
  if (options.encryption && !context.config.BACKUP_ENCRYPTION_KEY) {
    throw badRequest("encryption: needs BACKUP_ENCRYPTION_KEY to be configured.", { field: "encryption" });
  }
  for (const other of await allTemplates(context.env)) {
    if (other.name === name) continue;
    const sameBucket = other.bucketName === bucketName;
    if (sameBucket !== (other.sourceBinding === sourceBinding)) {
      throw badRequest(
        `sourceBinding and bucketName: template ${other.name} binds ${other.bucketName} as ${other.sourceBinding}; a bucket has one binding and a binding one bucket.`,
        { field: sameBucket ? "sourceBinding" : "bucketName", template: other.name },
      );
    }
  }
}
