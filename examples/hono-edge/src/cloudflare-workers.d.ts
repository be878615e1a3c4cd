/** The module workerd provides to every Worker (typed fully by @cloudflare/workers-types). */
declare module 'cloudflare:workers' {
  /** The Worker's bindings, at module scope. */
  export const env: Record<string, unknown>
}
