/**
 * The client of a request: the remote address of the connection, which `Deno.serve` passes as the
 * handler's info (Hono's `c.env`). Never a header (`X-Forwarded-For` is the client's to choose).
 *
 * @module
 */
import type { Context } from "hono";

/** The connection's remote address; undefined when there is none (`app.request()` in tests). */
export function clientIp(c: Context): string | undefined {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const host = env?.remoteAddr?.hostname;
  return typeof host === "string" ? host : undefined;
}
