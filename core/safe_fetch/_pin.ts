/**
 * Pinning for `safeFetch`: the connection goes to an address the check approved, never to a second DNS
 * answer (DNS rebinding: a hostile server answers the check with a public address and the connection
 * with 127.0.0.1). `fetch()` gets a `Deno.HttpClient` whose transport is a TCP socket to the checked
 * IP, so the request keeps its URL: the `Host` header, the TLS server name (SNI) and the certificate
 * check are the original host's.
 *
 * Such a client needs net permission for the IP as well as the host. A plugin sandbox granted only
 * named hosts (`net: ["api.example.org:443"]`) cannot create one; its request goes unpinned, which its
 * permission list bounds to the hosts it names (they work as an allowlist).
 *
 * @module
 */

/** The addresses to try in order: IPv4 first (a host without IPv6 routes fails fast on them), then IPv6. */
export function connectOrder(addresses: string[]): string[] {
  const bare = addresses.map((a) => a.replace(/^\[(.*)\]$/, "$1"));
  return [
    ...bare.filter((a) => !a.includes(":")),
    ...bare.filter((a) => a.includes(":")),
  ];
}

/**
 * A client that connects every request to `address:port`, or undefined when the process may not
 * connect to that IP by number (see the module doc). One per request: {@link closeWithBody} closes it.
 */
export function pinnedClient(
  address: string,
  port: number,
): Deno.HttpClient | undefined {
  const hostname = address.includes(":") ? `[${address}]` : address;
  try {
    return Deno.createHttpClient({
      proxy: { transport: "tcp", hostname, port },
    });
  } catch (err) {
    if (
      err instanceof Deno.errors.NotCapable ||
      err instanceof Deno.errors.PermissionDenied
    ) return undefined;
    throw err;
  }
}

/**
 * The response (its `url` the request's), its client closed once the body is read to the end,
 * cancelled or fails (at once when there is no body). The caller reads or cancels a body as with any `fetch()`.
 */
export function closeWithBody(
  response: Response,
  client: Deno.HttpClient,
  url: URL,
): Response {
  const body = response.body;
  if (body === null) {
    client.close();
    return response;
  }
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    client.close();
  };
  const reader = body.getReader();
  const wrapped = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          close();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    async cancel(reason) {
      try {
        await reader.cancel(reason);
      } finally {
        close();
      }
    },
  });
  const out = new Response(wrapped, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  Object.defineProperty(out, "url", { value: url.href });
  return out;
}

/** The port a URL connects to. */
export function portOf(url: URL): number {
  if (url.port !== "") return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}
