/**
 * Did-you-mean hints for misspelt names (plugins, channel names and types): the closest known name by
 * edit distance, when it is close enough, and the list of known names.
 *
 * @module
 */

/** `; did you mean "x"? (known: a, b)` when a known name is close, else ` (known: a, b)`. */
export function suggestName(name: string, known: readonly string[]): string {
  let best = "";
  let bestScore = Infinity;
  for (const candidate of known) {
    const score = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) [best, bestScore] = [candidate, score];
  }
  const list = `known: ${known.join(", ") || "none"}`;
  return bestScore <= Math.max(2, name.length / 3)
    ? `; did you mean "${best}"? (${list})`
    : ` (${list})`;
}

/** Levenshtein distance of two strings. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(
        row[j]! + 1,
        row[j - 1]! + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length]!;
}
