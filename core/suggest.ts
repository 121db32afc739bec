/**
 * "Did you mean …?" for a misspelt name: the closest candidate by edit distance (Levenshtein,
 * case-insensitive), if it is close enough to be a typo. The one helper behind every such hint:
 * unknown config keys, unknown enrichment and action names, unknown CLI options, bare CEL fields.
 *
 * @module
 */

/** Edit distance between two strings (insertions, deletions, substitutions). */
export function distance(a: string, b: string): number {
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

/** The candidate closest to `name` when within a typo's distance (≤ 2, or a third of the name), else undefined. */
export function closest(
  name: string,
  candidates: Iterable<string>,
): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    const score = distance(lower, candidate.toLowerCase());
    if (score < bestScore) [best, bestScore] = [candidate, score];
  }
  return bestScore <= Math.max(2, name.length / 3) ? best : undefined;
}

/**
 * A `; did you mean "x"? (known: …)` hint for a misspelt `name` among `candidates`, or ` (known: …)` when
 * none is close: the one did-you-mean of config errors.
 */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const list = [...candidates];
  const best = closest(name, list);
  const known = `known: ${list.join(", ")}`;
  return best === undefined
    ? ` (${known})`
    : `; did you mean "${best}"? (${known})`;
}
