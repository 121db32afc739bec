/**
 * Logging: one JSON line per event (service) or a short human line (CLI), always redacted, on stderr.
 *
 * The JSON logger writes in batches: lines logged during one turn of the event loop go out in one
 * `write` once pending I/O has run (a burst of alerts logs three lines each; one syscall per line cost
 * more than the rest of logging). A batch is written at once when it reaches 64 KiB, and on exit
 * (`unload`, which `Deno.exit` dispatches too), so nothing logged before an orderly exit is lost; a
 * kill -9 loses at most the current turn's lines.
 *
 * @module
 */
import { redact, secretsVersion } from "./secrets.ts";

/** Receives pipeline events such as `accepted`, `enriched`, `delivered`, `failed`. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

const encoder = new TextEncoder();
const BATCH_BYTES = 64 * 1024;

function writeNow(text: string): void {
  try {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) {
      written += Deno.stderr.writeSync(bytes.subarray(written));
    }
  } catch {
    // stderr closed: nothing sensible left to do
  }
}

let batch = "";
let scheduled = false;
let hooked = false;

/** Writes the lines logged so far (the JSON logger batches them). */
export function flushLogs(): void {
  scheduled = false;
  if (batch === "") return;
  const text = batch;
  batch = "";
  writeNow(text);
}

function writeBatched(line: string): void {
  batch += line + "\n";
  if (batch.length >= BATCH_BYTES) return flushLogs();
  if (!hooked) {
    hooked = true;
    globalThis.addEventListener("unload", flushLogs);
  }
  if (!scheduled) {
    scheduled = true;
    setTimeout(flushLogs, 0);
  }
}

/** Levels of the events seen so far (a handful of names, one per line logged). */
const levels = new Map<string, "error" | "warn" | "info">();

function level(event: string): "error" | "warn" | "info" {
  let known = levels.get(event);
  if (known === undefined) {
    known = levelOf(event);
    if (levels.size < 1024) levels.set(event, known);
  }
  return known;
}

function levelOf(event: string): "error" | "warn" | "info" {
  return /fail|error/.test(event)
    ? "error"
    : /retry|warn/.test(event)
    ? "warn"
    : "info";
}

/**
 * Redacts each string (and key) as `JSON.stringify` reaches it, before it is escaped: a secret with a
 * `"`, a `\` or a control character is written escaped (`pa\"ss`), so redacting the finished line
 * would no longer find it.
 */
function redacting(_key: string, value: unknown): unknown {
  if (typeof value === "string") return redact(value);
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.some((k) => redact(k) !== k)) {
      return Object.fromEntries(
        keys.map((k) => [redact(k), (value as Record<string, unknown>)[k]]),
      );
    }
  }
  return value;
}

let lastMs = NaN;
let lastTs = "";

/** `new Date().toISOString()`, made once per millisecond (a burst logs many lines in one). */
function timestamp(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTs = new Date(ms).toISOString();
  }
  return lastTs;
}

/**
 * The line of a flat event (every field a string, number, boolean or undefined; none named `ts`,
 * `level` or `event`, none starting with a digit), written out directly: what `JSON.stringify` with {@link redacting} writes, at a
 * fraction of its cost (most lines are flat: `accepted` is one per alert). Undefined for any other.
 */
function flatLine(
  ts: string,
  event: string,
  fields: Record<string, unknown>,
): string | undefined {
  const parts = flatParts();
  let line = parts.heads.get(event);
  if (line === undefined) {
    line = `","level":"${level(event)}","event":${
      JSON.stringify(redact(event))
    }`;
    if (parts.heads.size < 1024) parts.heads.set(event, line);
  }
  line = `{"ts":"${ts}${line}`;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    let text: string;
    if (typeof value === "string") text = JSON.stringify(redact(value));
    else if (typeof value === "number" || typeof value === "boolean") {
      text = JSON.stringify(value);
    } else if (value === undefined) continue;
    else return undefined;
    let name = parts.keys.get(key);
    if (name === undefined) {
      // An integer-like key goes first in an object (JSON.stringify's order), a known one replaces.
      name = key === "ts" || key === "level" || key === "event" ||
          (key.charCodeAt(0) >= 48 && key.charCodeAt(0) <= 57)
        ? null
        : `,${JSON.stringify(redact(key))}:`;
      if (parts.keys.size < 1024) parts.keys.set(key, name);
    }
    if (name === null) return undefined;
    line += name + text;
  }
  return line + "}";
}

/**
 * The redacted, escaped text of each event name (with its level) and field name seen so far, as
 * {@link flatLine} writes them: a handful of names, written on every line. Dropped when a secret is
 * registered (a name could hold it).
 */
let parts = {
  version: -1,
  heads: new Map<string, string>(),
  keys: new Map<string, string | null>(),
};

function flatParts(): typeof parts {
  if (parts.version !== secretsVersion()) {
    parts = { version: secretsVersion(), heads: new Map(), keys: new Map() };
  }
  return parts;
}

/** One JSON object per line: `{"ts", "level", "event", ...fields}`, every string redacted. */
export const jsonLogger: Logger = (event, fields = {}) => {
  const ts = timestamp();
  const flat = flatLine(ts, event, fields);
  if (flat !== undefined) return writeBatched(flat);
  writeBatched(
    JSON.stringify(
      {
        ts,
        level: level(event),
        event,
        ...fields,
      },
      redacting,
    ),
  );
};

/** Short progress lines for people at a terminal: `blitz: delivered 0192… (device_1)`. Unbatched. */
export const humanLogger: Logger = (event, fields = {}) => {
  const details = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  writeNow(redact(`blitz: ${event}${details ? ` ${details}` : ""}`) + "\n");
};

/** Discards everything (tests, benchmarks). */
export const silentLogger: Logger = () => {};
