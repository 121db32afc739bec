/**
 * Storm control in a replay: the same decisions `processAlert` makes (`decideStorm`, before
 * enrichment), and the same timers `serve`'s storm job runs (window digests, group flushes, silence
 * ends, breaker ticks), on a SCRATCH store (an in-memory SQLite store, never the real one) with a
 * delivery that only counts. The clock is driven: before each alert, every timer (and every recorded
 * ack) due by the alert's `received_at` runs in due order with the clock at its due time; after the
 * last alert, those due by the end of the replay run too, and the rest are counted as pending.
 *
 * Operator input is replayed as recorded in the real store: its silences (from their `starts_at` to
 * their `ends_at`, an expired one ending where it was expired) and the acks still in effect (from
 * their `acked_at`). A silence or ack made for a fingerprint applies only while the changed config's
 * fingerprint definition gives the same fingerprint id (a new definition starts new windows).
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import type { Delivery } from "../delivery/delivery.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import { runStormTimer, sendBreakerNotice } from "../pipeline/storm_mail.ts";
import type {
  AlertRecord,
  Silence,
  Store,
  StoredMessage,
  StormWindow,
  SuppressedBy,
} from "../store/store.ts";
import { decideStorm, type StormOutcome } from "../storm/storm.ts";

/** A recorded ack: the fingerprint, who acked it and when. */
export type StormAck = Pick<StormWindow, "fingerprint"> & {
  acked_by: string;
  acked_at: string;
};

/** What operators recorded in the real store, replayed as recorded. */
export interface OperatorInput {
  silences: Silence[];
  acks: StormAck[];
}

/** Storm control's decision for one alert, as recorded or replayed (its final state). */
export interface StormView {
  decision: "notify" | "suppressed";
  suppressed_by?: SuppressedBy;
  /** The alert whose email covers this one. */
  notified_id?: string;
  silence_id?: string;
}

/** Storm emails by kind: `digest`, `group`, `silence_end`, `breaker_on`, `breaker_off`. */
export type StormEmails = Record<string, number>;

/** The storm decision of a stored alert. */
export function stormView(record: AlertRecord): StormView {
  if (record.status !== "suppressed") return { decision: "notify" };
  return {
    decision: "suppressed",
    ...(record.suppressed_by ? { suppressed_by: record.suppressed_by } : {}),
    ...(record.notified_id ? { notified_id: record.notified_id } : {}),
    ...(record.silence_id ? { silence_id: record.silence_id } : {}),
  };
}

/** A delivery that sends nothing (storm emails are counted through `onStormEmail`). */
const NOWHERE: Delivery = {
  send: (message) =>
    Promise.resolve({ status: "outbox", messageId: message.messageId ?? "" }),
  close: () => Promise.resolve(),
};

const FOREVER = 100 * 365 * 86_400_000;
const FAR = new Date("9999-01-01T00:00:00.000Z");

/** The scratch storm state of one replay. */
export class StormReplay {
  #runtime: Runtime;
  #scratch: Store;
  #now: Date;
  #acks: StormAck[];
  #emails: StormEmails = {};

  private constructor(runtime: Runtime, scratch: Store, acks: StormAck[]) {
    this.#scratch = scratch;
    this.#now = new Date(0);
    this.#acks = [...acks].sort((a, b) => a.acked_at < b.acked_at ? -1 : 1);
    this.#runtime = {
      ...runtime,
      store: scratch,
      delivery: NOWHERE,
      clock: () => this.#now,
      log: () => {},
      onStormEmail: (_detector, kind) =>
        void (this.#emails[kind] = (this.#emails[kind] ?? 0) + 1),
      onChannelWork: () => {},
      onSuppressed: () => {},
    };
  }

  /** Opens the state on `scratch` (an empty store of its own) with the recorded operator input. */
  static async open(
    runtime: Runtime,
    scratch: Store,
    input: OperatorInput,
  ): Promise<StormReplay> {
    for (const s of input.silences) {
      await scratch.storm.addSilence({
        id: s.id,
        detector: s.detector,
        ...(s.match !== undefined ? { match: s.match } : {}),
        ...(s.fingerprint !== undefined ? { fingerprint: s.fingerprint } : {}),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
      }, new Date(s.created_at));
    }
    return new StormReplay(runtime, scratch, input.acks);
  }

  /** Storm emails sent so far, by kind. */
  get emails(): StormEmails {
    return { ...this.#emails };
  }

  /** Runs, in due order, every timer and ack due by `to`; the clock then reads `to`. */
  async advance(to: Date): Promise<void> {
    const storm = this.#scratch.storm;
    for (;;) {
      const ack = this.#acks[0];
      const ackAt = ack && Date.parse(ack.acked_at) <= to.getTime()
        ? new Date(ack.acked_at)
        : undefined;
      const [timer] = await storm.claimTimers({
        now: ackAt ?? to,
        leaseMs: FOREVER,
        limit: 1,
      });
      if (timer) {
        this.#now = new Date(timer.due_at);
        await runStormTimer(this.#runtime, timer);
        await storm.finishTimer(timer.id, this.#now);
        continue;
      }
      if (!ack || !ackAt) break;
      this.#acks.shift();
      this.#now = ackAt;
      await storm.ack(ack.fingerprint, { actor: ack.acked_by, at: ackAt });
    }
    this.#now = to;
  }

  /** Decides on one alert at its `received_at` (timers due before it have run): as processing does. */
  async decide(
    record: AlertRecord,
    detector: LoadedDetector,
    alert: Record<string, unknown>,
  ): Promise<StormOutcome | undefined> {
    await this.advance(new Date(record.received_at));
    await this.#scratch.insertAlerts([{
      id: record.id,
      detector: record.detector,
      alert: record.alert,
      received_at: record.received_at,
      status: "processing",
    }]);
    const runtime = this.#runtime;
    const outcome = await decideStorm(
      {
        ...runtime,
        breaker: runtime.config.global.storm_breaker,
      },
      detector,
      { id: record.id, alert },
    );
    if (outcome?.action === "suppress" && outcome.notice === "on") {
      await sendBreakerNotice(runtime, detector, {
        on: true,
        rate: outcome.rate ?? 0,
        anchor: record.id,
      });
    }
    return outcome;
  }

  /**
   * Records what became of an alert storm control let through: digests thread under its email, and
   * later alerts of its thread answer it.
   */
  async composed(
    record: AlertRecord,
    outcome: {
      sent: boolean;
      message: StoredMessage;
      thread?: string | undefined;
    },
  ): Promise<void> {
    const { message } = outcome;
    await this.#scratch.updateAlert(record.id, {
      status: outcome.sent ? "delivered" : "not_sent",
      subject: message.subject,
      to: message.to,
      cc: message.cc,
      message_id: message.message_id,
      ...(outcome.thread ? { thread_key: outcome.thread } : {}),
    });
  }

  /**
   * Runs what is due by `end`, then reads each alert's final decision (a grouped alert learns its
   * notified alert when its batch goes) and counts the timers still pending, by kind, that will
   * send something.
   */
  async finish(
    end: Date,
    ids: string[],
  ): Promise<{ views: Map<string, StormView>; pending: StormEmails }> {
    await this.advance(end);
    const views = new Map<string, StormView>();
    for (const id of ids) {
      const row = await this.#scratch.getAlert(id);
      if (row) views.set(id, stormView(row));
    }
    const pending: StormEmails = {};
    const storm = this.#scratch.storm;
    const later = await storm.claimTimers({
      now: FAR,
      leaseMs: FOREVER,
      limit: 100_000,
    });
    for (const timer of later) {
      let counts: Partial<Record<SuppressedBy, number>> | undefined;
      if (timer.kind === "window") {
        counts = await storm.suppressedCounts({
          notified_id: timer.ref.alert_id ?? "",
        });
        delete counts.group;
      } else if (timer.kind === "silence_end") {
        counts = await storm.suppressedCounts({
          silence_id: timer.ref.silence_id ?? "",
        });
      }
      if (counts && !Object.values(counts).some((n) => (n ?? 0) > 0)) continue;
      const kind = timer.kind === "window" ? "digest" : timer.kind;
      pending[kind] = (pending[kind] ?? 0) + 1;
    }
    return { views, pending };
  }
}
