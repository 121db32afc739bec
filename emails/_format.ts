/** Times and durations as the emails show them. */

/** `2025-01-31 14:05:09 UTC` for a valid ISO time, else the input unchanged. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** `5 s`, `2.5 s`, `0.25 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

/** `250 ms` under a second, else {@linkcode formatSeconds}. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? formatSeconds(ms) : `${Math.round(ms)} ms`;
}
