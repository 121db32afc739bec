/**
 * What replay compares for one alert: a view of what was recorded (before) and of what the changed
 * config produces (after), and the fields that differ. Views hold only what a person acts on: whether
 * an email goes out, its subject and recipients, the condition block, the enrichments and their
 * status, the send actions, the reply buttons and their steps, and decisions of extra steps (storm
 * control, channels) keyed by step name.
 *
 * @module
 */
import { stringifyJson } from "../json.ts";
import { type StormView, stormView } from "./_storm.ts";
import type {
  ActionResult,
  AlertRecord,
  EnrichmentResult,
  StoredMessage,
  SuppressedBy,
} from "../store/store.ts";

/** One side of the comparison. `null` means "not known" (not recorded) and is never a difference. */
export interface AlertView {
  sent: boolean;
  subject: string | null;
  to: string[] | null;
  cc: string[] | null;
  /** The CEL block that matched, "" when enrichment is unconditional, null when unknown. */
  condition: string | null;
  /** `name: status` of each enrichment of the block. */
  enrichments: string[] | null;
  /** `action → return_name` of each send action. */
  send: string[] | null;
  /** Reply button labels. */
  buttons: string[] | null;
  /** `label: step, step` of each reply button (not recorded with an alert: null before). */
  steps: string[] | null;
  /**
   * Storm control's decision (notify, or suppressed with the reason and the alert whose email covers
   * it); null when unknown (a detector the changed config no longer has).
   */
  storm: StormView | null;
  /** Decisions of extra replay steps, e.g. `{ storm: "digest" }`. */
  decisions: Record<string, string>;
  /** Channels the alert goes to besides email (none yet). */
  channels: string[];
  /** The rendered email, for --html. */
  message?: StoredMessage | undefined;
}

/** One field that differs. */
export interface Change {
  field: string;
  before: unknown;
  after: unknown;
}

/** The fields compared, in the order they are reported. */
const FIELDS = [
  "sent",
  "subject",
  "to",
  "cc",
  "condition",
  "enrichments",
  "send",
  "buttons",
  "steps",
  "storm",
  "channels",
] as const;

/** `name: status` for enrichment results. */
export function enrichmentLines(results: EnrichmentResult[]): string[] {
  return results.map((e) => `${e.name}: ${e.status}`);
}

/** `action → return_name` for send actions (results or config steps). */
export function sendLines(
  actions: { name: string; return_name?: string | undefined }[],
): string[] {
  return actions.map((
    a,
  ) => (a.return_name ? `${a.name} → ${a.return_name}` : a.name));
}

/**
 * Button labels in a rendered email's text part: the RESPOND section lists each label before its
 * action link (what the button does, indented, may sit between them).
 */
export function buttonLabels(text: string): string[] {
  const section = text.split(/\n(?=[A-Z][A-Z ]+\n-+\n)/).find((s) =>
    s.startsWith("RESPOND\n")
  );
  if (!section) return [];
  const lines = section.split("\n").map((l) => l.trimEnd());
  return lines.flatMap((line, i) => {
    if (!/^https?:\/\/\S+$/.test(line)) return [];
    let j = i - 1;
    while (j > 0 && /^\s/.test(lines[j]!)) j--;
    const label = lines[j] ?? "";
    return label !== "" && !/^https?:/.test(label) ? [label] : [];
  });
}

/** What was recorded for an alert. */
export function recordedView(record: AlertRecord): AlertView {
  const message = record.message;
  return {
    sent: record.status !== "not_sent" && record.status !== "suppressed",
    subject: record.subject ?? null,
    to: record.to ?? null,
    cc: record.cc ?? null,
    condition: record.condition === undefined ? null : record.condition ?? "",
    enrichments: record.enrichments
      ? enrichmentLines(record.enrichments)
      : null,
    send: record.actions ? sendLines(record.actions as ActionResult[]) : null,
    buttons: message ? buttonLabels(message.text) : null,
    steps: null,
    storm: stormView(record),
    decisions: {},
    channels: [],
    message,
  };
}

/** The fields of `before` and `after` that differ (unknown values never differ). */
export function changes(before: AlertView, after: AlertView): Change[] {
  const out: Change[] = [];
  for (const field of FIELDS) {
    const a = before[field];
    const b = after[field];
    if (a === null || b === null) continue;
    if (stringifyJson(a) !== stringifyJson(b)) {
      out.push({ field, before: a, after: b });
    }
  }
  const names = new Set([
    ...Object.keys(before.decisions),
    ...Object.keys(after.decisions),
  ]);
  for (const name of [...names].sort()) {
    const a = before.decisions[name];
    const b = after.decisions[name];
    if (a !== undefined && a !== b) {
      out.push({ field: `decisions.${name}`, before: a, after: b ?? null });
    }
  }
  return out;
}

/** One replayed alert. */
export interface ReplayedAlert {
  id: string;
  detector: string;
  received_at: string;
  changed: boolean;
  changes: Change[];
  before: AlertView;
  after: AlertView;
}

/** A whole replay. */
export interface ReplayReport {
  alerts: ReplayedAlert[];
  summary: {
    replayed: number;
    changed: number;
    unchanged: number;
    /** Emails before and after (alerts whose email goes out). */
    emails: { before: number; after: number };
    /** Counts of each extra step's decisions after the change, e.g. `{ storm: { digest: 3 } }`. */
    decisions: Record<string, Record<string, number>>;
    /** Every email storm control lets go, before (as recorded) and after (replayed). */
    storm: {
      before: StormCounts;
      after: StormCounts;
      /** Storm emails the replay's timers would send after its end, by kind (windows still open). */
      pending: Record<string, number>;
    };
  };
}

/** What storm control let go for the replayed alerts. */
export interface StormCounts {
  /** The alerts' own emails. */
  emails: number;
  /**
   * Storm emails by kind: `digest`, `group` (grouped emails), `silence_end`, `breaker_on`,
   * `breaker_off`, `breaker_digest`. Before: derived from the stored alerts (a notified alert with
   * alerts suppressed under it had a digest, a grouped email's Message-ID on its alerts, a silence that
   * held alerts its end email); breaker notices are not recorded with alerts and are left out.
   */
  storm_emails: Record<string, number>;
  /** Alerts stored, counted and not mailed, by reason. */
  suppressed: Partial<Record<SuppressedBy, number>>;
  /** Emails of every kind. */
  total: number;
}
