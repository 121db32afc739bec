/**
 * Threads: alerts of one detector with the same thread key (the values of `thread_key` paths, else of
 * `storm.fingerprint`, hashed as storm control hashes fingerprints) go into one mail thread. A later
 * alert's email answers the latest earlier one (`In-Reply-To`) and references the first (`References`),
 * so a `resolved` Alertmanager item lands under its `firing` one. An alert whose `status` is "resolved"
 * says so in its subject.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import { fingerprintOf } from "../storm/storm.ts";
import type { AlertRecord } from "../store/store.ts";
import { isResolved } from "../resolved.ts";
import { messageIdOf } from "./_compose.ts";
import type { Runtime } from "./_types.ts";

/** Where an alert sits in its thread. */
export interface Thread {
  /** The thread key, recorded on the alert; absent when the detector threads nothing. */
  key?: string;
  /** The earlier alerts' Message-IDs to answer, when there are any. */
  parent?: { inReplyTo: string; references: string[] };
  /** The alert reports a resolution (`status: resolved`). */
  resolved: boolean;
}

/** The thread of an alert: its key, and the earlier alerts of that key (found in the store). */
export async function threadOf(
  runtime: Runtime,
  detector: LoadedDetector,
  input: { alert: Record<string, unknown>; alertId: string },
): Promise<Thread> {
  const resolved = isResolved(input.alert);
  const paths = detector.config.thread_key ??
    detector.config.storm?.fingerprint;
  if (!paths) return { resolved };
  const key = fingerprintOf(detector.name, paths, input.alert).id;
  const query = { detector: detector.name, thread_key: key, limit: 2 };
  const earlier = (list: AlertRecord[]) =>
    list.find((r) => r.id !== input.alertId);
  let first: AlertRecord | undefined;
  let last: AlertRecord | undefined;
  try {
    [first, last] = await Promise.all([
      runtime.store.listAlerts({ ...query, oldest_first: true }).then(earlier),
      runtime.store.listAlerts(query).then(earlier),
    ]);
  } catch {
    // No store to ask (`render`), or it failed: the email goes out unthreaded rather than not at all.
    return { key, resolved };
  }
  if (!first || !last) return { key, resolved };
  const id = (r: AlertRecord) =>
    r.message_id ?? messageIdOf(runtime.config, r.id);
  return {
    key,
    resolved,
    parent: {
      inReplyTo: id(last),
      references: [...new Set([id(first), id(last)])],
    },
  };
}

/** The subject of an alert in its thread: "Resolved: …" for a resolution that does not say so already. */
export function threadSubject(subject: string, thread: Thread): string {
  return thread.resolved && !/resolved/i.test(subject)
    ? `Resolved: ${subject}`
    : subject;
}
