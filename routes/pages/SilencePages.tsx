/**
 * The `/silences` page (storm control): active silences and acked fingerprints with what they hold
 * (linking the storm's alerts), who, since, until when, how many alerts they held and the comment,
 * each with a button (a POST form with a CSRF field) that ends it; the recent ones; and a form that
 * makes a silence (detector or every detector, an optional CEL match, for how long, a comment). No
 * scripts; under 640 px the rows stack into labelled cards (Page.tsx's `.stack`).
 *
 * @module
 */
import type { JSX } from "preact";
import { Card, Page, renderPage } from "./Page.tsx";

/** One silence or ack as the page shows it (times already formatted). */
export interface SilenceRow {
  what: string;
  /** The alerts it concerns (a fingerprint's storm). */
  href?: string;
  detector: string;
  by: string;
  since: string;
  until: string;
  /** How many alerts it held. */
  held?: string;
  /** Those alerts on `/alerts` (`?silence=`). */
  heldHref?: string;
  comment?: string;
  /** Where its end button posts; absent when it is over (or no key signs the form). */
  endHref?: string;
}

/** Everything the page shows. */
export interface SilencePageModel {
  user: string;
  csrf: string;
  active: SilenceRow[];
  acks: SilenceRow[];
  recent: SilenceRow[];
  listHref: string;
  /** The new-silence form (absent when no key signs it). */
  create?: { action: string; detectors: string[] };
}

/** The new-silence form: a POST with the CSRF field; `for` is required (a silence always ends). */
function NewSilence(
  { create, csrf }: {
    create: NonNullable<SilencePageModel["create"]>;
    csrf: string;
  },
): JSX.Element {
  return (
    <form method="post" action={create.action} class="filters">
      <input type="hidden" name="csrf" value={csrf} />
      <div class="field">
        <label for="detector">Detector</label>
        <select id="detector" name="detector">
          {create.detectors.map((d) => (
            <option key={d} value={d}>
              {d === "*" ? "* (every detector)" : d}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="match">Match (CEL, optional)</label>
        <input
          type="text"
          id="match"
          name="match"
          placeholder='alert.src_ip == "192.0.2.1"'
        />
      </div>
      <div class="field">
        <label for="for">For (at most 30d)</label>
        <input type="text" id="for" name="for" value="4h" required />
      </div>
      <div class="field">
        <label for="comment">Comment</label>
        <input type="text" id="comment" name="comment" />
      </div>
      <div class="field">
        <button type="submit" style="background:#2b6cb0;color:#fff;">
          Silence
        </button>
      </div>
    </form>
  );
}

function Rows({ rows, csrf }: { rows: SilenceRow[]; csrf: string }) {
  if (rows.length === 0) return <p class="muted" style="margin:0;">None.</p>;
  return (
    <table class="stack">
      <tr class="head">
        <th>What</th>
        <th>Detector</th>
        <th>By</th>
        <th>Since</th>
        <th>Until</th>
        <th>Held</th>
        <th></th>
      </tr>
      {rows.map((row, i) => (
        <tr key={i}>
          <td data-label="What">
            {row.href ? <a href={row.href}>{row.what}</a> : row.what}
            {row.comment ? <div class="muted">{row.comment}</div> : null}
          </td>
          <td data-label="Detector">{row.detector}</td>
          <td data-label="By">{row.by}</td>
          <td data-label="Since">{row.since}</td>
          <td data-label="Until">{row.until}</td>
          <td data-label="Held">
            {row.heldHref ? <a href={row.heldHref}>{row.held}</a> : row.held}
          </td>
          <td>
            {row.endHref
              ? (
                <form method="post" action={row.endHref} style="margin:0;">
                  <input type="hidden" name="csrf" value={csrf} />
                  <button type="submit" style="background:#c23030;color:#fff;">
                    End
                  </button>
                </form>
              )
              : null}
          </td>
        </tr>
      ))}
    </table>
  );
}

/** The page. */
export function SilencePage(
  { model }: { model: SilencePageModel },
): JSX.Element {
  return (
    <Page title="Silences and acks" kicker={`Blitz · ${model.user}`}>
      <Card>
        <p style="margin:0;">
          <a href={model.listHref}>All alerts</a>
          {" · Silences are made here, from the digest's buttons, or with "}
          <code>deno task silence add</code>
        </p>
      </Card>
      {model.create
        ? (
          <Card heading="New silence">
            <NewSilence create={model.create} csrf={model.csrf} />
          </Card>
        )
        : null}
      <Card heading="Active silences">
        <Rows rows={model.active} csrf={model.csrf} />
      </Card>
      <Card heading="Acked fingerprints">
        <Rows rows={model.acks} csrf={model.csrf} />
      </Card>
      <Card heading="Recent silences">
        <Rows rows={model.recent} csrf={model.csrf} />
      </Card>
    </Page>
  );
}

/** Renders the page to HTML. */
export function renderSilencePage(model: SilencePageModel): string {
  return renderPage(SilencePage, { model });
}
