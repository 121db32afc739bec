/**
 * The reference handlers of the ingest benchmarks (`_store_reference.ts`, `_pg_reference.ts`,
 * `_floor_reference.ts`, `_threaded_reference.ts`): each runs as its own `deno run -A` child and
 * prints `listening <port>` once it serves (`serveReference`, or its own line).
 *
 * @module
 */

/** A running reference handler; `stop` ends it. */
export interface Reference {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Its process, for its CPU (`/proc`). */
  pid: number;
  stop(): Promise<void>;
}

/** In a reference's child: serves `handler` on a free loopback port and prints `listening <port>`. */
export function serveReference(handler: Deno.ServeHandler): void {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`listening ${port}`),
  }, handler);
}

/** Starts `script` (a file of `bench/`) with `args`; resolves once it listens, rejects if it exits first. */
export async function startReference(
  script: string,
  args: string[],
): Promise<Reference> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited already */ }
    await child.status;
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!/listening (\d+)/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the reference handler ${script} exited`);
      text += value;
    }
    reader.releaseLock();
    return {
      url: `http://127.0.0.1:${/listening (\d+)/.exec(text)![1]}`,
      pid: child.pid,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
