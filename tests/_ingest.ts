/**
 * What a sensor sends to `POST /ingest/<detector>`, for the route's unit tests and the `serve` end-to-end
 * tests alike.
 *
 * @example
 * ```ts
 * const res = await fetch(`${url}/ingest/t1`, ingestRequest(token, '{"n":1}'));
 * ```
 *
 * @module
 */

/** A POST with `token` as its bearer token and a JSON content type; `headers` add to or replace those. */
export function ingestRequest(
  token: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): RequestInit {
  return {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...headers,
    },
    body,
  };
}
