/**
 * The checks of a detector's `storm` block that need more than one field: `realert_max` not below
 * `realert`, and `group.by` paths taken from the fingerprint (a group is a set of fingerprints).
 *
 * @module
 */
import type { DetectorConfig } from "./schema.ts";
import { didYouMean } from "../suggest.ts";
import { formatDuration } from "../duration.ts";

/** Reports each problem of `detector.storm` through `problem(path, message)`. */
export function checkStorm(
  detector: DetectorConfig,
  problem: (path: string, message: string) => void,
): void {
  const storm = detector.storm;
  if (!storm) return;
  if (storm.realert_max !== undefined && storm.realert_max < storm.realert) {
    problem(
      "storm.realert_max",
      `must not be shorter than realert (${
        formatDuration(storm.realert)
      }): raise it, or drop it to keep every window at realert`,
    );
  }
  storm.group?.by.forEach((path, i) => {
    if (!storm.fingerprint.includes(path)) {
      problem(
        `storm.group.by[${i}]`,
        `"${path}" is not a fingerprint path: group.by must be taken from storm.fingerprint${
          didYouMean(path, storm.fingerprint)
        }`,
      );
    }
  });
  if (detector.actions.reply.length > 200) {
    problem(
      "actions.reply",
      "at most 200 reply buttons with storm control (the digest's own buttons take the last indices)",
    );
  }
}
