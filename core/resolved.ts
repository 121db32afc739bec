/**
 * Resolutions: an alert whose `status` is "resolved" (Alertmanager, Grafana) says a problem ended. One
 * rule for everything that tells a resolution from a firing alert: the mail thread's subject
 * (`core/pipeline/_thread.ts`), the channels' `resolved` messages (PagerDuty's `resolve`) and storm
 * control, which lets a fingerprint's first resolve through its realert window (docs/storm.md).
 *
 * @module
 */

/** An alert that reports a resolution: its `status` is "resolved", in any case. */
export function isResolved(alert: Record<string, unknown>): boolean {
  const status = alert.status;
  return typeof status === "string" && status.toLowerCase() === "resolved";
}
