/**
 * Encryption keys. The current key (BACKUP_ENCRYPTION_KEY) encrypts new blobs and manifests and
 * names encrypted blobs; older keys (BACKUP_ENCRYPTION_KEYS) only decrypt. A key's id is a
 * fingerprint of the key, so blobs name the key they need without naming any secret.
 */
import { toHex } from "./hashing";

export interface EncryptionKey {
  /** 16 hex characters: the first 8 bytes of SHA-256("r2-backup key id:" + key). */
  id: string;
  aes: CryptoKey;
  /** HMAC key that derives each record's nonce from its content (deterministic, SIV-style). */
  nonce: CryptoKey;
  /** HMAC key that turns a content hash into an encrypted blob's name. */
  naming: CryptoKey;
}

export interface Keyring {
  current: EncryptionKey;
  byId: Map<string, EncryptionKey>;
}

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyError";
  }
}

export function decodeKey(base64: string, name: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(base64.trim()), (c) => c.charCodeAt(0));
  } catch {
    throw new KeyError(`${name} is not valid base64`);
  }
  if (bytes.length !== 32)
    throw new KeyError(`${name} must be 32 bytes (base64 of 32 random bytes), got ${bytes.length}`);
  return bytes;
}

async function deriveHmacKey(raw: Uint8Array, info: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode(info) },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

export async function keyId(raw: Uint8Array): Promise<string> {
  const prefix = new TextEncoder().encode("r2-backup key id:");
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array([...prefix, ...raw]));
  return toHex(digest).slice(0, 16);
}

async function importKey(raw: Uint8Array): Promise<EncryptionKey> {
  return {
    id: await keyId(raw),
    aes: await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]),
    nonce: await deriveHmacKey(raw, "r2-backup/record-nonce/v1"),
    naming: await deriveHmacKey(raw, "r2-backup/blob-name/v1"),
  };
}

/** Builds the keyring from the current key (base64) and older keys (comma-separated base64). */
export async function loadKeyring(currentKey: string, oldKeys: readonly string[]): Promise<Keyring> {
  const current = await importKey(decodeKey(currentKey, "BACKUP_ENCRYPTION_KEY"));
  const byId = new Map([[current.id, current]]);
  for (const [i, old] of oldKeys.entries()) {
    const key = await importKey(decodeKey(old, `BACKUP_ENCRYPTION_KEYS[${i}]`));
    if (!byId.has(key.id)) byId.set(key.id, key);
  }
  return { current, byId };
}

export async function hmacHex(key: CryptoKey, data: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.sign("HMAC", key, data));
}
