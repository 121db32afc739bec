/**
 * A timed silence as the store keeps it (`silences`): what it holds (a detector or every one, a CEL
 * match, one fingerprint), from when until when (it always ends), who made it and why, and how many
 * alerts it held. Making one is `core/storm/_silences.ts`; its end is a timer (`storm_timers.ts`).
 *
 * @module
 */

/** A timed silence. `fingerprint` set: only that fingerprint; `match` set: a CEL condition over `alert`. */
export interface Silence {
  id: string;
  /** A detector name, or `*` for every detector. */
  detector: string;
  match?: string;
  fingerprint?: string;
  starts_at: string;
  ends_at: string;
  created_by: string;
  comment: string;
  created_at: string;
  /** Set when it was ended early (`silence expire`, the page's button). */
  expired_at?: string;
  /** Alerts it suppressed. */
  suppressed: number;
}

/** A new silence (the store stamps `created_at` and counts). */
export type NewSilence = Omit<
  Silence,
  "created_at" | "suppressed" | "expired_at"
>;
