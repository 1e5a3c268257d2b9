// Secrets and optional variables: not in wrangler.toml, so `wrangler types` cannot see them.
// They are validated at run time by workers/config.ts.
declare namespace Cloudflare {
  interface Env {
    JWT_JWKS_URL?: string;
    JWT_ISSUER?: string;
    JWT_AUDIENCE?: string;
    BACKUP_ENCRYPTION_KEY?: string;
    BACKUP_ENCRYPTION_KEYS?: string;
    BACKUP_WEBHOOK_URL?: string;
    BACKUP_WEBHOOK_SECRET?: string;
    /** The second backup location (docs/replica.md): bind it in wrangler.toml to turn replication on. */
    R2_REPLICA_BUCKET?: R2Bucket;
  }
}
