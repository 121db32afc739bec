/**
 * Regular expressions for CEL's `matches`: with the linear-time engine (V8's `l` flag, on when Deno runs
 * with `--v8-flags=--enable-experimental-regexp-engine`, as every runtime task in deno.json does) a
 * pattern costs time proportional to the text, whatever it is; the syntax is then RE2's, as CEL
 * specifies (no backreferences, no lookarounds). Without that flag (`deno test`, a hand-written `deno
 * run`), patterns that can backtrack catastrophically (a repeated group that itself repeats or
 * alternates, as in `^(a+)+$`, or a backreference) are refused instead.
 *
 * @module
 */

/** Whether this process has the linear-time engine. */
export const LINEAR_REGEX: boolean = (() => {
  try {
    new RegExp("", "l");
    return true;
  } catch {
    return false;
  }
})();

const cache = new Map<string, RegExp>();

/** The compiled pattern; throws an Error saying why a pattern is refused. */
export function safeRegex(pattern: string): RegExp {
  const cached = cache.get(pattern);
  if (cached) return cached;
  if (!LINEAR_REGEX) {
    const risk = backtrackRisk(pattern);
    if (risk) {
      throw new Error(
        `Regular expression ${
          JSON.stringify(pattern.slice(0, 100))
        } can backtrack catastrophically (${risk}): write it without nested repetition, e.g. ^a+$ for ^(a+)+$`,
      );
    }
  }
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, LINEAR_REGEX ? "l" : "");
  } catch {
    throw new Error(
      `Invalid regular expression ${
        JSON.stringify(pattern.slice(0, 100))
      }: matches takes RE2 syntax (no backreferences or lookarounds)`,
    );
  }
  if (cache.size >= 1000) cache.clear();
  cache.set(pattern, regex);
  return regex;
}

/**
 * Why a pattern can backtrack catastrophically in a backtracking engine, or "" when it cannot in the
 * ways this checks: a group repeated without bound (`*`, `+`, `{n,}`) that contains a repetition or an
 * alternation, a repetition with an upper bound over 1000, and backreferences.
 */
export function backtrackRisk(pattern: string): string {
  // For each open group: does it contain a quantifier or an alternation?
  const groups: { risky: boolean }[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    let atomEnd = i; // where the atom just read ends, for a quantifier after it
    let closedRisky = false;
    if (c === "\\") {
      const next = pattern[i + 1] ?? "";
      if (/[1-9]/.test(next) || next === "k") return "a backreference";
      i++;
      atomEnd = i;
    } else if (c === "[") {
      i++;
      if (pattern[i] === "^") i++;
      if (pattern[i] === "]") i++;
      while (i < pattern.length && pattern[i] !== "]") {
        if (pattern[i] === "\\") i++;
        i++;
      }
      atomEnd = i;
    } else if (c === "(") {
      groups.push({ risky: false });
      continue;
    } else if (c === ")") {
      const group = groups.pop();
      closedRisky = group?.risky ?? false;
      if (closedRisky && groups.length) groups[groups.length - 1]!.risky = true;
    } else if (c === "|") {
      if (groups.length) groups[groups.length - 1]!.risky = true;
      continue;
    } else if ("*+?{".includes(c)) {
      continue; // a quantifier without an atom: the engine says what is wrong
    }
    // A quantifier after the atom?
    const rest = pattern.slice(atomEnd + 1);
    const q = /^(?:([*+])|\{(\d+)(,(\d*))?\}|\?)/.exec(rest);
    if (!q) continue;
    const unbounded = q[1] !== undefined || (q[3] !== undefined && q[4] === "");
    const max = q[4] ? Number(q[4]) : q[2] ? Number(q[2]) : 0;
    if (max > 1000) return "a repetition of more than 1000";
    if (c === ")" && unbounded && closedRisky) {
      return "a repeated group that itself repeats or alternates";
    }
    if (groups.length) groups[groups.length - 1]!.risky = true;
    i = atomEnd + q[0].length;
    if (rest[q[0].length] === "?") i++; // lazy
  }
  return "";
}
