/**
 * The sandbox's child process entry (started only by `_process.ts`), and the framing both sides
 * speak over the child's stdin and stdout: each message is a 4-byte big-endian length, then that many
 * bytes of UTF-8 JSON.
 *
 * Run as a program (`deno run <the plugin's flags> sandbox_child.ts`) it gives `sandbox_worker.ts` the
 * two things a Worker would have, `postMessage` (a frame on stdout) and `onmessage` (fed from stdin
 * frames), then imports it: the plugin, its import and its calls run exactly as in a Worker, with the
 * process's own permission flags. The child first sends `{ type: "hello", deno }` (its Deno version,
 * which the parent checks), and exits when stdin closes (its parent is gone or shut it down).
 *
 * Like `sandbox_worker.ts` this file is copied next to the single-file bundle, so it imports nothing
 * local statically.
 *
 * @module
 */

/** The largest frame either side accepts (a plugin's result included). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One message as a frame: its length (4 bytes, big-endian), then its JSON. */
export function encodeFrame(message: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(message));
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/** Raised when a stream carries something that is not a frame (too long, or not JSON). */
export class FrameError extends Error {
  override name = "FrameError";
}

/** The messages of a stream of frames; ends with the stream, throws FrameError on a bad frame. */
export async function* readFrames(
  stream: ReadableStream<Uint8Array>,
  maxBytes = MAX_FRAME_BYTES,
): AsyncGenerator<unknown> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of stream) {
    if (buffer.length === 0) buffer = chunk;
    else {
      const joined = new Uint8Array(buffer.length + chunk.length);
      joined.set(buffer);
      joined.set(chunk, buffer.length);
      buffer = joined;
    }
    while (buffer.length >= 4) {
      const length = new DataView(buffer.buffer, buffer.byteOffset, 4)
        .getUint32(0);
      if (length > maxBytes) {
        throw new FrameError(
          `a message of ${length} bytes is over the ${maxBytes}-byte limit`,
        );
      }
      if (buffer.length < 4 + length) break;
      const body = buffer.subarray(4, 4 + length);
      buffer = buffer.subarray(4 + length);
      try {
        yield JSON.parse(decoder.decode(body));
      } catch (err) {
        if (err instanceof SyntaxError) {
          throw new FrameError(`a message is not JSON: ${err.message}`);
        }
        throw err;
      }
    }
  }
}

function writeAll(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    offset += Deno.stdout.writeSync(bytes.subarray(offset));
  }
}

if (import.meta.main) {
  const scope = globalThis as unknown as {
    postMessage(message: unknown): void;
    onmessage: ((event: { data: unknown }) => void) | null;
  };
  scope.postMessage = (message) => writeAll(encodeFrame(message));
  scope.postMessage({ type: "hello", deno: Deno.version.deno });
  // A computed specifier: the bundle must not inline the worker module (it is the copy next to this file).
  await import(new URL("./sandbox_worker.ts", import.meta.url).href);
  try {
    for await (const message of readFrames(Deno.stdin.readable)) {
      scope.onmessage?.({ data: message });
    }
  } finally {
    Deno.exit(0);
  }
}
