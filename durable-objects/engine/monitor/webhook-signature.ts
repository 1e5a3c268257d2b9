/**
 * The webhook signature (api.md): `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<raw body>`
 * keyed with BACKUP_WEBHOOK_SECRET. The timestamp is part of what is signed, so a receiver that
 * rejects old timestamps cannot be fed a recorded delivery again.
 */
const encoder = new TextEncoder();

export async function webhookSignature(secret: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)));
  return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
