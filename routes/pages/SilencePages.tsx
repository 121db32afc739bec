/**
 * The `/silences` page (storm control): active silences and acked fingerprints with who, when and
 * until when, each with a button (a POST form with a CSRF field) that ends it; and recent ones.
 * No scripts.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import { Card, Page, renderPage } from "./Page.tsx";

/** One silence or ack as the page shows it. */
export interface SilenceRow {
  what: string;
  detector: string;
  by: string;
  since: string;
  until: string;
  suppressed?: number;
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
}

function Rows({ rows, csrf }: { rows: SilenceRow[]; csrf: string }) {
  if (rows.length === 0) return <p class="muted" style="margin:0;">None.</p>;
  return (
    <table>
      <tr>
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
          <td>
            {row.what}
            {row.comment ? <div class="muted">{row.comment}</div> : null}
          </td>
          <td>{row.detector}</td>
          <td>{row.by}</td>
          <td style="white-space:nowrap;">{formatTime(row.since)}</td>
          <td style="white-space:nowrap;">{row.until}</td>
          <td>{row.suppressed ?? ""}</td>
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
          {" · New silences: the digest's buttons, or "}
          <code>deno task silence add</code>
        </p>
      </Card>
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
