/** The engine's settings, derived once per isolate from the validated configuration. */
import { getConfig, type Config } from "./config";
import { DEFAULTS } from "./defaults";
import type { BackupEngineSettings } from "../backup/backup-deps";
import { loadKeyring, type Keyring } from "../format/keyring";
import { DEFAULT_TREE_SHAPE } from "../format/manifest-tree";

const keyrings = new WeakMap<object, Promise<Keyring | null>>();

/**
 * Every configured key, for reading: a backup encrypted earlier stays readable after encryption
 * is switched off, as long as its key is still configured. Null when no key is configured.
 */
export function readKeyring(env: Env): Promise<Keyring | null> {
  let keyring = keyrings.get(env);
  if (!keyring) {
    const config = getConfig(env);
    keyring = config.BACKUP_ENCRYPTION_KEY
      ? loadKeyring(config.BACKUP_ENCRYPTION_KEY, config.BACKUP_ENCRYPTION_KEYS)
      : Promise.resolve(null);
    keyrings.set(env, keyring);
  }
  return keyring;
}

export async function engineSettings(env: Env): Promise<BackupEngineSettings> {
  const config: Config = getConfig(env);
  return {
    batchSize: config.BACKUP_BATCH_SIZE,
    readAttempts: config.BACKUP_READ_ATTEMPTS,
    retryBaseMs: config.BACKUP_RETRY_BASE_MS,
    concurrency: DEFAULTS.concurrency,
    storage: {
      compress: config.BACKUP_COMPRESSION_ENABLED,
      keyring: config.BACKUP_ENCRYPTION_ENABLED ? await readKeyring(env) : null,
      multipartThreshold: config.BACKUP_MULTIPART_THRESHOLD_BYTES,
      partSize: config.BACKUP_PART_SIZE_BYTES,
      lockDays: config.BACKUP_BUCKET_LOCK_DAYS,
    },
    stepByteBudget: config.BACKUP_STEP_BYTE_BUDGET,
    hashStepBytes: config.BACKUP_HASH_STEP_BYTES,
    largeObjectMaxRestarts: config.BACKUP_LARGE_OBJECT_MAX_RESTARTS,
    readKeyring: await readKeyring(env),
    treeShape: config.BACKUP_TEST_TREE_FANOUT
      ? { leafModulus: config.BACKUP_TEST_TREE_FANOUT, pageModulus: config.BACKUP_TEST_TREE_FANOUT }
      : DEFAULT_TREE_SHAPE,
  };
}
