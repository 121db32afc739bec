/**
 * Reading a response body with a cap: refused up front when `Content-Length` says it is too large,
 * else counted as it streams in and cancelled at the first byte past the cap. Re-exported by
 * `safe_fetch.ts` (and so by the plugin contract) for plugins that read what they fetched.
 *
 * @module
 */

/** Reads the body as UTF-8, at most `maxBytes` of it; RangeError (the body cancelled) past that. */
export async function readTextCapped(
  response: Response,
  options: {
    maxBytes: number;
    /** The host the response came from, for the error message. */
    host: string;
    /** How the error names the cap. @default `${maxBytes} bytes` */
    limit?: string;
  },
): Promise<string> {
  const tooLarge = () =>
    new RangeError(
      `Response from ${options.host} exceeds ${
        options.limit ?? `${options.maxBytes} bytes`
      }`,
    );
  if (Number(response.headers.get("content-length") ?? 0) > options.maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    total += value.byteLength;
    if (total > options.maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    text += decoder.decode(value, { stream: true });
  }
}
