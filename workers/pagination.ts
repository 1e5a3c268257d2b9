/** Opaque pagination cursors: base64url of a small JSON value, validated on the way back in. */
import { z } from "zod";
import { badRequest } from "./http-error";

export function encodeCursor(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const text = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    return schema.parse(JSON.parse(text));
  } catch {
    throw badRequest("cursor is not valid: pass back the nextCursor of a previous page unchanged.", {
      field: "cursor",
    });
  }
}
