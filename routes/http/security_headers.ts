/**
 * Security headers: the set every response carries (no sniffing, no referrer, no caching) and, for HTML
 * pages (action and alert pages), the same plus a CSP that allows no scripts and no framing, and no
 * indexing.
 *
 * @module
 */
import type { Context } from "hono";

/** The headers of every response, or with `page`, of an HTML page whose forms post to `publicUrl`. */
export function securityHeaders(
  page?: { publicUrl: string },
): Record<string, string> {
  const every = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
  };
  if (!page) return every;
  return {
    ...every,
    "Content-Security-Policy":
      `default-src 'none'; style-src 'unsafe-inline'; form-action ${
        new URL(page.publicUrl).origin
      }; frame-ancestors 'none'; base-uri 'none'`,
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
  };
}

/** Sets headers on the context's response after `next()`, in place where it can (no copy of the Response). */
export function setResponseHeaders(
  c: Context,
  headers: Record<string, string>,
): void {
  for (const [name, value] of Object.entries(headers)) {
    try {
      c.res.headers.set(name, value);
    } catch {
      c.header(name, value); // immutable headers (e.g. a fetched Response): let Hono copy it
    }
  }
}
