import { getConfig } from "../workers/config";
import type { BackupEngineSettings } from "./engine/backup-step";

/** Objects read in parallel within a batch: enough to overlap R2 latency, small enough for memory. */
const BATCH_CONCURRENCY = 6;

export function engineSettings(env: Env): BackupEngineSettings {
  const config = getConfig(env);
  return {
    batchSize: config.BACKUP_BATCH_SIZE,
    readAttempts: config.BACKUP_READ_ATTEMPTS,
    retryBaseMs: config.BACKUP_RETRY_BASE_MS,
    concurrency: BATCH_CONCURRENCY,
  };
}
