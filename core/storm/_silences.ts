/**
 * Making a silence (from the email button, `deno task silence add`, or the `/silences` page): the
 * request checked once, with errors that name the field (`for`, `match`, `detector`), then stored with
 * its end timer. A silence always ends: `for` is required where a person types it, at most 30 days
 * (the button's default is 4h).
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { uuidv7 } from "../ids.ts";
import { importLazy } from "../lazy.ts";
import type { Silence, Store } from "../store/store.ts";

/** The longest silence. */
export const MAX_SILENCE_MS = 30 * 86_400_000;
/** The button's default. */
export const DEFAULT_SILENCE_MS = 4 * 3_600_000;

/** What a person asks for. */
export interface SilenceRequest {
  /** A detector name, or `*` for every detector. */
  detector: string;
  /** CEL over `alert`; absent: every alert of the detector (or only `fingerprint`). */
  match?: string | undefined;
  /** A fingerprint id (the email button's "this fingerprint"). */
  fingerprint?: string | undefined;
  /** How long, in milliseconds (required: a silence always ends). */
  forMs: number | undefined;
  createdBy: string;
  comment?: string | undefined;
}

/** Checks and stores a silence; InputError naming the field when the request is wrong. */
export async function addSilence(
  deps: {
    store: Store;
    clock?: (() => Date) | undefined;
    detectors: Iterable<string>;
  },
  request: SilenceRequest,
): Promise<Silence> {
  const known = [...deps.detectors];
  if (request.detector !== "*" && !known.includes(request.detector)) {
    throw new InputError(
      `detector: unknown detector "${request.detector}" (known: ${
        known.sort().join(", ") || "none"
      }; or * for every detector)`,
    );
  }
  const forMs = request.forMs;
  if (forMs === undefined || !Number.isFinite(forMs)) {
    throw new InputError(
      "for: a silence needs an end: give a duration of at most 30d, e.g. 4h",
    );
  }
  if (forMs <= 0 || forMs > MAX_SILENCE_MS) {
    throw new InputError(
      `for: must be more than 0 and at most 30d (got ${
        Math.round(forMs / 60_000)
      } min): silence again when it ends if you need longer`,
    );
  }
  const match = request.match?.trim() || undefined;
  if (match !== undefined) {
    const { compileCondition } = await importLazy<
      typeof import("../config/conditions.ts")
    >("core/config/conditions.ts");
    try {
      compileCondition(match);
    } catch (err) {
      throw new InputError(`match: ${(err as Error).message}`);
    }
  }
  const createdBy = request.createdBy.trim().slice(0, 200);
  if (!createdBy) throw new InputError("created_by: say who silences");
  const now = deps.clock?.() ?? new Date();
  return await deps.store.storm.addSilence({
    id: uuidv7(now.getTime()),
    detector: request.detector,
    ...(match !== undefined ? { match } : {}),
    ...(request.fingerprint ? { fingerprint: request.fingerprint } : {}),
    starts_at: now.toISOString(),
    ends_at: new Date(now.getTime() + forMs).toISOString(),
    created_by: createdBy,
    comment: (request.comment ?? "").slice(0, 500),
  }, now);
}
