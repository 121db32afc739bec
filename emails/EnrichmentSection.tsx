/**
 * One enrichment's card in the alert email: its heading, then its data, or what went wrong instead.
 *
 * @module
 */
import { DataView, THEME, WRAP } from "./DataView.tsx";
import { formatSeconds } from "./_format.ts";
import { Row } from "./_Layout.tsx";
import { Heading, STATUS } from "./_Status.tsx";

/** One enrichment's outcome as shown in the email. */
export interface EmailEnrichment {
  name: string;
  status: "ok" | "error" | "timeout" | "skipped";
  ms: number;
  data?: unknown;
  error?: string;
  timeoutMs?: number;
}

/** What an error, timeout or skipped enrichment says instead of data. */
export function enrichmentMessage(e: EmailEnrichment): string | undefined {
  switch (e.status) {
    case "error":
      return `${e.name} — failed: ${e.error ?? "unknown error"}`;
    case "timeout":
      // The plugin sandbox says what it did: "plugin timed out after 5 s and was killed".
      if (e.error?.startsWith("plugin timed out")) {
        return `${e.name} — ${e.error}`;
      }
      return `${e.name} — timed out after ${
        formatSeconds(e.timeoutMs ?? e.ms)
      }`;
    case "skipped":
      return "skipped";
    default:
      return undefined;
  }
}

/** The card of one enrichment, accented when it failed or timed out. */
export function EnrichmentSection(
  { enrichment: e }: { enrichment: EmailEnrichment },
) {
  const message = enrichmentMessage(e);
  const colors = STATUS[e.status];
  return (
    <Row accent={colors.accent}>
      <Heading name={e.name} status={e.status} ms={e.ms} />
      <div style="margin-top:8px;">
        {message === undefined
          ? (e.data === undefined
            ? <span style={`color:${THEME.faint};`}>No data returned</span>
            : <DataView value={e.data} />)
          : (
            <div
              style={`color:${
                e.status === "skipped" ? THEME.faint : colors.fg
              };font-size:14px;${WRAP}`}
            >
              {message}
            </div>
          )}
      </div>
    </Row>
  );
}
