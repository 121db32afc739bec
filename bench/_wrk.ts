/**
 * The HTTP load generator of the ingest benchmarks: wrk (Debian `wrk`), one thread, a fixed number of
 * keep-alive connections, POSTing one fixed body. Blitz and Alertmanager are driven by the same call
 * with the same connections.
 *
 * @module
 */
import { installed } from "./_report.ts";

/** Where the bench expects wrk. */
export const WRK = "/usr/bin/wrk";

/** True when wrk is installed. */
export function hasWrk(): Promise<boolean> {
  return installed(WRK);
}

/** The result of one wrk run. */
export interface WrkResult {
  rps: number;
  /** Responses that were not 2xx or 3xx. */
  errors: number;
  /** Socket errors (connect, read, write, timeout). */
  socketErrors: number;
}

/** POSTs `body` to `url` with `headers` on `connections` connections for `seconds`. */
export async function wrk(options: {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}): Promise<WrkResult> {
  const script = await Deno.makeTempFile({ suffix: ".lua" });
  const lines = [
    `wrk.method = "POST"`,
    `wrk.body = ${luaString(options.body)}`,
    ...Object.entries(options.headers).map(([k, v]) =>
      `wrk.headers[${luaString(k)}] = ${luaString(v)}`
    ),
  ];
  await Deno.writeTextFile(script, lines.join("\n") + "\n");
  try {
    const out = await new Deno.Command(WRK, {
      args: [
        "-t1",
        `-c${options.connections}`,
        `-d${options.seconds}s`,
        "--timeout",
        "30s",
        "-s",
        script,
        options.url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success || !/Requests\/sec/.test(text)) {
      throw new Error(
        `wrk failed: ${new TextDecoder().decode(out.stderr)}${text}`,
      );
    }
    const socket =
      /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
        .exec(text);
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
      errors: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
      socketErrors: socket
        ? socket.slice(1).reduce((a, b) => a + Number(b), 0)
        : 0,
    };
  } finally {
    await Deno.remove(script);
  }
}

/** `s` as a Lua string literal (JSON's escapes of ASCII text are Lua's too); ASCII only. */
function luaString(s: string): string {
  if (!/^[\x20-\x7e\n\t]*$/.test(s)) {
    throw new Error("wrk bodies and headers must be ASCII text");
  }
  return JSON.stringify(s);
}
