/**
 * Outbound HTTP for plugins without server-side request forgery (SECURITY.md item 14).
 *
 * URLs come from config templates ({@linkcode buildUrl} fills `{key}` placeholders with encoded alert
 * values and refuses placeholders in the host), and {@linkcode safeFetch} checks the scheme, an optional
 * host allowlist and every address the host resolves to before each hop, redirects included.
 *
 * DNS rebinding: the host is resolved once, for the check, and the connection goes to an address the
 * check approved (`_pin.ts`: a TCP transport to that IP, the URL's Host header and TLS server name
 * kept), so a hostile DNS server cannot answer the check with a public address and the connection with
 * a private one. A sandbox granted only named hosts cannot connect by IP and goes unpinned: its
 * permission list bounds it to those hosts. The check uses `Deno.resolveDns` (DNS only, not
 * /etc/hosts).
 * `Deno.resolveDns` needs net permission for the system nameserver (`host:53`), so a plugin with a
 * narrow `net` list must include it.
 *
 * @module
 */
import {
  BlockedRequestError,
  type CheckedHost,
  checkUrl,
  type SafeFetchPolicy,
} from "./_check.ts";
import { closeWithBody, connectOrder, pinnedClient, portOf } from "./_pin.ts";

export { buildUrl, fillText, urlProblem } from "./_build.ts";
export { readTextCapped } from "./_read.ts";
export {
  BlockedRequestError,
  isMetadataAddress,
  isPrivateAddress,
  type SafeFetchPolicy,
} from "./_check.ts";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers kept when a redirect crosses origins; everything else (API keys, Authorization) is dropped. */
const CROSS_ORIGIN_SAFE_HEADERS = new Set([
  "accept",
  "accept-language",
  "content-language",
  "content-type",
  "user-agent",
]);

/**
 * `fetch()` that checks the scheme (http/https only), the host allowlist and every resolved address of the
 * host before connecting, follows redirects itself re-checking each hop, and passes `init.signal` along.
 * Throws {@linkcode BlockedRequestError} when the policy refuses a hop.
 *
 * @example
 * ```ts
 * const response = await safeFetch(buildUrl("https://api.example.com/v1/ip/{ip}", { ip: "1.1.1.1" }), {
 *   signal: AbortSignal.timeout(5000),
 * }, { allowHosts: ["api.example.com"] });
 * ```
 */
export async function safeFetch(
  url: string | URL,
  init: RequestInit & { signal?: AbortSignal },
  policy: SafeFetchPolicy,
): Promise<Response> {
  const maxRedirects = policy.maxRedirects ?? 3;
  const visited: URL[] = [];
  let current = new URL(url);
  let method = (init.method ?? "GET").toUpperCase();
  let body = init.body ?? null;
  let headers = new Headers(init.headers);

  for (let hop = 0;; hop++) {
    const checked = await checkUrl(current, policy, init.signal);
    visited.push(current);
    const response = await connect(current, checked, {
      ...init,
      method,
      headers,
      body,
      redirect: "manual",
    }).catch((err) => {
      throw redactNetworkError(err, visited);
    });
    const location = response.headers.get("location");
    if (!REDIRECT_STATUSES.has(response.status) || location === null) {
      return response;
    }
    await response.body?.cancel();
    if (hop >= maxRedirects) {
      throw new BlockedRequestError(
        `Blocked request to ${current.hostname}: more than ${maxRedirects} redirects`,
      );
    }

    const next = new URL(location, current);
    const status = response.status;
    if (
      ((status === 301 || status === 302) && method === "POST") ||
      (status === 303 && method !== "HEAD")
    ) {
      method = "GET";
      body = null;
      headers.delete("content-type");
      headers.delete("content-length");
    } else if (body instanceof ReadableStream) {
      throw new TypeError(
        `Cannot follow redirect from ${current.hostname}: a streamed body cannot be sent again`,
      );
    }
    if (next.origin !== current.origin) {
      headers = new Headers(
        [...headers].filter(([name]) => CROSS_ORIGIN_SAFE_HEADERS.has(name)),
      );
    }
    current = next;
  }
}

/**
 * One hop's request, pinned to the checked addresses of a named host (each in turn while connecting
 * fails, as long as the body can be sent again); an IP literal is connected to as it is.
 */
async function connect(
  url: URL,
  checked: CheckedHost,
  init: RequestInit,
): Promise<Response> {
  if (checked.literal) return await fetch(url, init);
  const order = connectOrder(checked.addresses);
  const port = portOf(url);
  let lastError: unknown;
  for (const [i, address] of order.entries()) {
    const client = pinnedClient(address, port);
    if (client === undefined) return await fetch(url, init);
    try {
      // Deno's fetch takes `client`; the DOM RequestInit type does not list it.
      const pinned = { ...init, client } as RequestInit;
      return closeWithBody(await fetch(url, pinned), client, url);
    } catch (err) {
      client.close();
      lastError = err;
      const retryable = err instanceof TypeError &&
        !(init.body instanceof ReadableStream) && !init.signal?.aborted;
      if (!retryable || i === order.length - 1) throw err;
    }
  }
  throw lastError;
}

/** Rethrows fetch's network error without the URLs (their query strings may carry API keys). */
function redactNetworkError(err: unknown, visited: URL[]): unknown {
  if (!(err instanceof TypeError)) return err;
  let detail = err.cause instanceof Error ? err.cause.message : err.message;
  for (const url of visited) detail = detail.replaceAll(url.href, url.origin);
  const last = visited[visited.length - 1];
  return new TypeError(
    `Request to ${last?.hostname ?? "host"} failed: ${detail}`,
  );
}
