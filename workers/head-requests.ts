/**
 * HEAD is answered as GET without the body (index.ts). The GET made for a HEAD is remembered here,
 * so that a handler whose body costs something to produce (a download reads the backup's copy)
 * can answer with its status and headers alone.
 */
const heads = new WeakSet<Request>();

/** The GET that answers `head`. */
export function getForHead(head: Request): Request {
  const get = new Request(head, { method: "GET" });
  heads.add(get);
  return get;
}

export const isHeadOnly = (request: Request): boolean => heads.has(request);
