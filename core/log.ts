/** Logging: one JSON line per event (service) or a short human line (CLI), always redacted, on stderr. */
import { redact } from "./secrets.ts";

/** Receives pipeline events such as `accepted`, `enriched`, `delivered`, `failed`. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

const encoder = new TextEncoder();

function write(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(redact(line) + "\n"));
  } catch {
    // stderr closed: nothing sensible left to do
  }
}

/** One JSON object per line: `{"ts", "level", "event", ...fields}`. */
export const jsonLogger: Logger = (event, fields = {}) => {
  const level = /fail|error/.test(event)
    ? "error"
    : /retry|warn/.test(event)
    ? "warn"
    : "info";
  write(
    JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields }),
  );
};

/** Short progress lines for people at a terminal: `blitz: delivered 0192… (device_1)`. */
export const humanLogger: Logger = (event, fields = {}) => {
  const details = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  write(`blitz: ${event}${details ? ` ${details}` : ""}`);
};

/** Discards everything (tests, benchmarks). */
export const silentLogger: Logger = () => {};
