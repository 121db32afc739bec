/**
 * The longest wait a JavaScript timer keeps: 2^31 - 1 ms (24 d 20 h 31 min). `setTimeout` with more fires
 * at once (a `timeout: 25d` timed out after 24 ms), so every duration that can become a timer stays below.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parses durations such as `250ms`, `5s`, `10m`, `72h`, `7d` (or a bare number of milliseconds). */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Invalid duration ${value}`);
    }
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) {
    throw new SyntaxError(
      `Invalid duration "${value}": use a number and one of ms, s, m, h, d`,
    );
  }
  const unit = match[2] ?? "ms";
  const factor =
    { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1;
  return Math.round(Number(match[1]) * factor);
}

/** Formats milliseconds for people: `900 ms`, `5 s`, `2 min`, `3 h`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1_000).toFixed(1))} s`;
  if (ms < 3_600_000) return `${Number((ms / 60_000).toFixed(1))} min`;
  return `${Number((ms / 3_600_000).toFixed(1))} h`;
}

/** A rate such as `10/s`, `600/m` or `100/s burst 20`, as tokens per second and burst size. */
export interface Rate {
  perSecond: number;
  burst: number;
}

/** Parses `N/s`, `N/m`, `N/h`, optionally followed by `burst B`. */
export function parseRate(value: string): Rate {
  const match =
    /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)(?:\s*,?\s*burst\s+(\d+))?\s*$/.exec(
      value,
    );
  if (!match) {
    throw new SyntaxError(
      `Invalid rate "${value}": use e.g. "10/s" or "600/m burst 20"`,
    );
  }
  const count = Number(match[1]);
  const perSecond = count /
    ({ s: 1, m: 60, h: 3600 }[match[2] as "s" | "m" | "h"]);
  const burst = match[3] ? Number(match[3]) : Math.max(1, Math.ceil(count));
  return { perSecond, burst };
}
