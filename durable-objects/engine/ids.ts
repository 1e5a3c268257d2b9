/** Identifiers: sortable by creation time, unique by a random suffix. */
export function newId(prefix: "bk" | "job" | "al", at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
  const random = crypto.getRandomValues(new Uint8Array(4));
  return `${prefix}-${stamp}-${[...random].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
