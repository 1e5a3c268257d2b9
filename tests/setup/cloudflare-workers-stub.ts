/**
 * `cloudflare:workers` for pure unit tests in plain Node: what the Worker's modules take from it
 * at load time (the Durable Object base class), so that their pure parts can be imported.
 */
export class DurableObject<Env = unknown> {
  constructor(
    protected readonly ctx: DurableObjectState,
    protected readonly env: Env,
  ) {}
}
