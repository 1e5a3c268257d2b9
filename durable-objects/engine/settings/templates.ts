/**
 * Backup templates: named backup configurations (D1 `backup_templates`, `/api/backup/templates`).
 * A template names its source bucket (binding and name: one coordinator per bucket), the keys it
 * covers (include and exclude prefixes), its schedule, its retention and keep rules, and whether
 * its blobs are compressed and encrypted.
 *
 * The built-in `default` template is the environment variables (BACKUP_SOURCE_BUCKET bound as
 * R2_BUCKET, BACKUP_SCHEDULE, BACKUP_RETENTION_DAYS, ...); it is never stored, so a deployment
 * without templates behaves exactly as before them, and changing a variable changes it.
 */
import { asc, eq } from "drizzle-orm";
import { backupTemplates, type BackupTemplateRow } from "../../../schema/index";
import { getConfig, type Config } from "./config";
import type { KeyScope } from "../backup/key-scope";
import type { RetentionPolicy } from "../cleanup/keep-policy";
import { openDatabase } from "../records";
import type { Schedule } from "./schedule";
import { PermanentError } from "../errors";

export const DEFAULT_TEMPLATE = "default";

export interface BackupTemplate extends KeyScope {
  name: string;
  builtIn: boolean;
  sourceBinding: string;
  bucketName: string;
  schedule: Schedule;
  retentionDays: number;
  keep: RetentionPolicy["keep"];
  compression: boolean;
  encryption: boolean;
  createdAt: string | null;
  updatedAt: string | null;
  updatedBy: string | null;
}

/**
 * What a backup of a template carries in its checkpoint: fixed when it starts, so editing the
 * template never changes a backup that runs. Absent in checkpoints begun before templates (and
 * then the default's behaviour, from the environment, applies).
 */
export interface TemplateRun extends KeyScope {
  name: string;
  sourceBinding: string;
  bucketName: string;
  compression: boolean;
  encryption: boolean;
  retention: RetentionPolicy;
}

export function defaultTemplate(config: Config): BackupTemplate {
  return {
    name: DEFAULT_TEMPLATE,
    builtIn: true,
    sourceBinding: "R2_BUCKET",
    bucketName: config.BACKUP_SOURCE_BUCKET,
    includePrefixes: [],
    excludePrefixes: [],
    schedule: config.BACKUP_SCHEDULE,
    retentionDays: config.BACKUP_RETENTION_DAYS,
    keep: config.BACKUP_KEEP,
    compression: config.BACKUP_COMPRESSION_ENABLED,
    encryption: config.BACKUP_ENCRYPTION_ENABLED,
    createdAt: null,
    updatedAt: null,
    updatedBy: null,
  };
}

export function fromRow(row: BackupTemplateRow): BackupTemplate {
  return { ...row, builtIn: false };
}

export async function findTemplate(env: Env, name: string): Promise<BackupTemplate | null> {
  if (name === DEFAULT_TEMPLATE) return defaultTemplate(getConfig(env));
  const row = await openDatabase(env.DB).query.backupTemplates.findFirst({ where: eq(backupTemplates.name, name) });
  return row ? fromRow(row) : null;
}

/** Every template, the default first, then by name. */
export async function allTemplates(env: Env): Promise<BackupTemplate[]> {
  const rows = await openDatabase(env.DB).select().from(backupTemplates).orderBy(asc(backupTemplates.name));
  return [defaultTemplate(getConfig(env)), ...rows.map(fromRow)];
}

export function templateRun(template: BackupTemplate): TemplateRun {
  return {
    name: template.name,
    sourceBinding: template.sourceBinding,
    bucketName: template.bucketName,
    includePrefixes: template.includePrefixes,
    excludePrefixes: template.excludePrefixes,
    compression: template.compression,
    encryption: template.encryption,
    retention: { retentionDays: template.retentionDays, keep: template.keep },
  };
}

/**
 * The source bucket a backup reads and a restore writes: `bound` (the job's R2_BUCKET, through its
 * test seam) for the default binding, else the template's binding, which must still be bound.
 */
export function sourceFor(env: Env, binding: string | undefined, bound: R2Bucket): R2Bucket {
  if (binding === undefined || binding === "R2_BUCKET") return bound;
  const bucket = sourceBucket(env, binding);
  if (!bucket) throw new PermanentError(`the source binding ${binding} is not an R2 bucket bound to this Worker`);
  return bucket;
}

/** The R2 bucket a binding name stands for, or null when the Worker has no such R2 binding. */
export function sourceBucket(env: Env, binding: string): R2Bucket | null {
  const bound = (env as unknown as Record<string, unknown>)[binding];
  const looksLikeBucket =
    typeof bound === "object" &&
    bound !== null &&
    "list" in bound &&
    "head" in bound &&
    "createMultipartUpload" in bound;
  return looksLikeBucket ? (bound as R2Bucket) : null;
}
