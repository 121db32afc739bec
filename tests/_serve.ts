/**
 * Runs `blitz serve` as a child process with the exact permission flags of the `serve` task (read from
 * deno.json's tasks, else {@link SERVE_FLAGS}), plus the test's temp folders added to the read and write
 * lists. Also a raw HTTP/1.1 client for requests `fetch` cannot make exactly (chunked bodies of a chosen
 * shape, a sender's exact header order).
 *
 * @example
 * ```ts
 * const project = await writeProject({ global: { listen: "127.0.0.1:0", ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"] } });
 * await using server = await startServe({ config: project.config, env: { ...project.env, BLITZ_INGEST_TOKEN: token }, dirs: [project.dir] });
 * const res = await fetch(`${server.url}/healthz`);
 * ```
 *
 * @module
 */

/** The project root (where deno.json and main.ts are). */
export const ROOT: string = new URL("..", import.meta.url).pathname.replace(
  /\/$/,
  "",
);

/**
 * The `serve` task's permission flags when deno.json has no `serve` task yet. The rule: read the project
 * (config, detectors, plugins) and write only the data dir; loopback network only (add the SMTP relay and
 * enrichment hosts in a deployment); env: Blitz's own `BLITZ_*`, the names the shipped config uses, and
 * the two the yaml package reads.
 */
export const SERVE_FLAGS: readonly string[] = [
  "--quiet",
  "--no-prompt",
  "--unstable-worker-options",
  "--allow-read=.",
  "--allow-write=./data",
  "--allow-net=127.0.0.1,localhost",
  "--allow-env=BLITZ_*,SMTP_*,JIRA_*,INTEL_API_TOKEN,LOG_TOKENS,LOG_STREAM",
  "--allow-sys=hostname,osRelease",
];

/**
 * The flags of deno.json's `serve` task (between `deno run` and `main.ts`), or {@link SERVE_FLAGS}.
 * `BLITZ_TEST_SERVE_FLAGS` (space-separated) overrides both, to try candidate flags against the tests.
 */
export function serveTaskFlags(): string[] {
  const override = Deno.env.get("BLITZ_TEST_SERVE_FLAGS");
  if (override) return override.trim().split(/\s+/);
  try {
    const json = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
      tasks?: Record<string, unknown>;
    };
    const task = json.tasks?.serve;
    const command = typeof task === "string"
      ? task
      : (task as { command?: string } | undefined)?.command;
    if (typeof command === "string") {
      const words = command.trim().split(/\s+/);
      const start = words.indexOf("run") + 1;
      const end = words.findIndex((w) => w.endsWith("main.ts"));
      if (start > 0 && end > start) {
        return words.slice(start, end).map((w) => w.replace(/['"]/g, ""));
      }
    }
  } catch {
    // no deno.json task: use the default
  }
  return [...SERVE_FLAGS];
}

/** The task's flags with `dirs` added to --allow-read and `writeDirs` to --allow-write. */
export function serveFlags(
  options: { dirs?: string[]; writeDirs?: string[] } = {},
): string[] {
  const flags = serveTaskFlags();
  const extend = (name: string, extra: string[]) => {
    if (extra.length === 0) return;
    const i = flags.findIndex((f) =>
      f === `--${name}` || f.startsWith(`--${name}=`)
    );
    if (i === -1) flags.push(`--${name}=${extra.join(",")}`);
    else if (flags[i]!.includes("=")) {
      flags[i] = `${flags[i]},${extra.join(",")}`;
    }
  };
  extend("allow-read", options.dirs ?? []);
  extend("allow-write", options.writeDirs ?? []);
  return flags;
}

/** A running `blitz serve`; dispose it (or `stop()`) in `finally`. */
export interface ServeProcess {
  /** `http://127.0.0.1:PORT` */
  url: string;
  child: Deno.ChildProcess;
  /** Parsed JSON log lines from stderr so far. */
  logs: Record<string, unknown>[];
  /** Raw stderr text so far. */
  stderr(): string;
  /** Resolves with the first log line (past or future) matching `predicate`; rejects after `timeoutMs` (default 30_000: a bound, not a timing). */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Sends SIGTERM and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Resolves when the process exits and its output is read. */
  exited: Promise<Deno.CommandStatus>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `deno run <serve flags> main.ts serve --config <config>` with `env` (plus PATH, HOME and the Deno
 * cache variables), waits for its "listening" line and a 200 from /healthz. The config should listen on
 * `127.0.0.1:0`: the port is read from the listening line.
 */
export async function startServe(
  options: {
    config: string;
    env?: Record<string, string>;
    /** Folders to add to --allow-read (the test project). */
    dirs?: string[];
    /** Folders to add to --allow-write (the test's data dir). */
    writeDirs?: string[];
    /** @default 30000 */
    timeoutMs?: number;
    /** A command that runs Deno, e.g. `["prlimit", "--nofile=256", "--"]` for a lower fd limit. */
    wrap?: string[];
    /** Deno flags added to the task's (the benchmarks' `--cpu-prof`). */
    denoFlags?: string[];
    /**
     * `false`: stderr is not parsed into `logs` and only its last 64 KiB are kept (benchmarks: parsing
     * thousands of log lines a second would take CPU from the service under test). @default true
     */
    parseLogs?: boolean;
  },
): Promise<ServeProcess> {
  const inherited = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]
    .flatMap((name) => {
      const value = Deno.env.get(name);
      return value === undefined ? [] : [[name, value] as const];
    });
  const args = [
    "run",
    ...serveFlags({
      dirs: options.dirs ?? [],
      writeDirs: options.writeDirs ?? [],
    }),
    ...(options.denoFlags ?? []),
    "main.ts",
    "serve",
    "--config",
    options.config,
  ];
  const [program, ...before] = [...(options.wrap ?? []), Deno.execPath()];
  const child = new Deno.Command(program!, {
    args: [...before, ...args],
    cwd: ROOT,
    clearEnv: true,
    env: { ...Object.fromEntries(inherited), NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  const logs: Record<string, unknown>[] = [];
  let errText = "";
  const watchers = new Set<() => void>();
  const listening = Promise.withResolvers<string>();
  const readLines = async (
    stream: ReadableStream<Uint8Array>,
    onLine: (line: string) => void,
  ) => {
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      buffer += decoder.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) !== -1) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
    if (buffer) onLine(buffer);
  };
  const outDone = readLines(child.stdout, (line) => {
    const match = /^Blitz listening on (http:\/\/\S+)$/.exec(line);
    if (match) listening.resolve(match[1]!);
  });
  const parseLogs = options.parseLogs ?? true;
  // Unparsed (benchmarks): kept as raw bytes, the last 64 KiB or more, as a log shipper takes them in
  // (splitting ~50,000 lines a second into strings here took CPU from the service on the same cores).
  const errTail: Uint8Array[] = [];
  let errTailBytes = 0;
  const errDone = parseLogs
    ? readLines(child.stderr, (line) => {
      errText += line + "\n";
      try {
        const parsed = JSON.parse(line);
        if (parsed && typeof parsed === "object") logs.push(parsed);
      } catch {
        // not a log line (a Deno warning): kept in stderr()
      }
      for (const wake of watchers) wake();
    })
    : (async () => {
      for await (const bytes of child.stderr) {
        errTail.push(bytes);
        errTailBytes += bytes.byteLength;
        while (errTailBytes - errTail[0]!.byteLength >= 64 * 1024) {
          errTailBytes -= errTail.shift()!.byteLength;
        }
      }
    })();
  const stderrText = () =>
    parseLogs ? errText : new TextDecoder().decode(concat(errTail));
  const exited = Promise.all([child.status, outDone, errDone]).then((
    [status],
  ) => status);
  exited.then(
    () =>
      listening.reject(
        new Error(`blitz serve exited before listening:\n${stderrText()}`),
      ),
    () => {},
  );

  const waitForLog = (
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = logs.find(predicate);
        if (!found) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `No matching log line within ${timeoutMs} ms; stderr:\n${
              stderrText().slice(-4000)
            }`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      watchers.add(check);
      check();
    });

  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      return await exited;
    })();
    return stopped;
  };

  let url: string;
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    url = await Promise.race([
      listening.promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `blitz serve did not listen within ${timeoutMs} ms:\n${stderrText()}`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
    const health = await fetch(`${url}/healthz`);
    await health.body?.cancel();
    if (health.status !== 200) {
      throw new Error(`/healthz answered ${health.status}`);
    }
  } catch (err) {
    clearTimeout(timer);
    await stop("SIGKILL");
    throw err;
  }
  return {
    url,
    child,
    logs,
    stderr: stderrText,
    waitForLog,
    stop,
    exited,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/** A response read off the wire. */
export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Body bytes the client managed to send before the exchange ended. */
  sent: number;
}

/**
 * One HTTP/1.1 exchange over a fresh TCP connection, headers sent exactly as given (order and case).
 * With `chunked`, the body is sent with `Transfer-Encoding: chunked` one chunk per element, and sending
 * stops when the server answers early or closes (as for a 413).
 */
export async function rawRequest(
  url: string,
  options: {
    method?: string;
    path: string;
    headers: [string, string][];
    /** Body chunks (strings are UTF-8); a generator may be infinite when the server is expected to refuse. */
    body?: Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;
    /** Send with `Transfer-Encoding: chunked` (added to the headers) instead of `Content-Length`. */
    chunked?: boolean;
  },
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const encoder = new TextEncoder();
  const headers = [...options.headers];
  const chunks: Uint8Array[] = [];
  if (!options.chunked && options.body) {
    for await (const c of options.body) {
      chunks.push(typeof c === "string" ? encoder.encode(c) : c);
    }
    headers.push([
      "Content-Length",
      String(chunks.reduce((n, c) => n + c.byteLength, 0)),
    ]);
  }
  if (options.chunked) headers.push(["Transfer-Encoding", "chunked"]);
  const head = `${options.method ?? "POST"} ${options.path} HTTP/1.1\r\n` +
    headers.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  let sent = 0;
  let finished = false;
  const write = async (bytes: Uint8Array) => {
    let offset = 0;
    while (offset < bytes.byteLength) {
      offset += await conn.write(bytes.subarray(offset));
    }
  };
  const writer = (async () => {
    await write(encoder.encode(head));
    if (!options.body) return;
    if (!options.chunked) {
      for (const c of chunks) await write(c), sent += c.byteLength;
      return;
    }
    for await (const c of options.body) {
      if (finished) return;
      const bytes = typeof c === "string" ? encoder.encode(c) : c;
      await write(encoder.encode(`${bytes.byteLength.toString(16)}\r\n`));
      await write(bytes);
      await write(encoder.encode("\r\n"));
      sent += bytes.byteLength;
    }
    await write(encoder.encode("0\r\n\r\n"));
  })().catch(() => {}); // the server may close while we send (413): what it answered is what counts

  try {
    const response = await readResponse(conn);
    return { ...response, sent };
  } finally {
    finished = true;
    try {
      conn.close();
    } catch {
      // closed by the server
    }
    await writer;
  }
}

async function readResponse(
  conn: Deno.Conn,
): Promise<Omit<RawResponse, "sent">> {
  let data = new Uint8Array(0);
  const buffer = new Uint8Array(64 * 1024);
  const more = async () => {
    const n = await conn.read(buffer);
    if (n === null) return false;
    const next = new Uint8Array(data.byteLength + n);
    next.set(data);
    next.set(buffer.subarray(0, n), data.byteLength);
    data = next;
    return true;
  };
  const latin1Decoder = new TextDecoder("latin1");
  const latin1 = (bytes: Uint8Array) => latin1Decoder.decode(bytes);
  let end: number;
  while ((end = latin1(data).indexOf("\r\n\r\n")) === -1) {
    if (!(await more())) {
      throw new Error("Connection closed before a response arrived");
    }
  }
  const [statusLine = "", ...lines] = latin1(data.subarray(0, end)).split(
    "\r\n",
  );
  const status = Number(statusLine.split(" ")[1]);
  const headers = new Headers();
  for (const line of lines) {
    const i = line.indexOf(":");
    headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  let body = data.subarray(end + 4);
  const length = headers.get("content-length");
  if (length !== null) {
    while (body.byteLength < Number(length)) {
      if (!(await more())) break;
      body = data.subarray(end + 4);
    }
    body = body.subarray(0, Number(length));
  } else if (headers.get("transfer-encoding")?.includes("chunked")) {
    while (!latin1(body).includes("0\r\n\r\n")) {
      if (!(await more())) break;
      body = data.subarray(end + 4);
    }
    const out: number[] = [];
    let at = 0;
    const text = latin1(body);
    while (at < text.length) {
      const nl = text.indexOf("\r\n", at);
      const size = parseInt(text.slice(at, nl), 16);
      if (!size) break;
      out.push(...body.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    body = new Uint8Array(out);
  }
  return { status, headers, text: new TextDecoder().decode(body) };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
