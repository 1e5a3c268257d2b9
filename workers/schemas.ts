/** zod schemas for every request body and query string of the API. */
import { z } from "zod";
import { BACKUP_STATUSES, BACKUP_TYPES, LOG_LEVELS } from "../schema";

export const createBackupBody = z.strictObject({
  type: z.enum(["full", "incremental", "auto"]),
});

function limitParam(max: number, fallback: number) {
  return z
    .string()
    .regex(/^\d+$/, `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `must be from 1 to ${max}`).max(max, `must be from 1 to ${max}`))
    .default(fallback);
}

export const listBackupsQuery = z.strictObject({
  status: z.enum(BACKUP_STATUSES).optional(),
  type: z.enum(BACKUP_TYPES).optional(),
  limit: limitParam(100, 20),
  cursor: z.string().min(1).max(512).optional(),
});

export const listLogsQuery = z.strictObject({
  level: z.enum(LOG_LEVELS).optional(),
  limit: limitParam(1000, 100),
  cursor: z.string().min(1).max(512).optional(),
});

export const listFilesQuery = z.strictObject({
  prefix: z.string().max(1024, "must be at most 1024 characters (R2's key limit)").default(""),
  limit: limitParam(1000, 100),
  cursor: z.string().min(1).max(4096).optional(),
});
