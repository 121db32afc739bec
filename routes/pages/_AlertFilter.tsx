/**
 * The alert list's filter form: a GET form (no scripts) with the search box (any alert value: an IP,
 * a host), detector, severity, status, why it was held (`reason`), a storm's state (`state`, on the
 * grouped list), and the time range (`since`/`until`: a duration back from now
 * such as `24h`, or a date and time in UTC). An expanded storm (`fingerprint`) and the flat view
 * (`view`) and a silence's alerts (`silence`) ride along as hidden fields, so filtering keeps them.
 *
 * @module
 */
import type { JSX } from "preact";

/** The filters, as the form shows them back. */
export interface FilterModel {
  q?: string;
  detector?: string;
  severity?: string;
  status?: string;
  reason?: string;
  silence?: string;
  state?: string;
  since?: string;
  until?: string;
  fingerprint?: string;
  view?: string;
}

function Choice(
  { name, label, options, value }: {
    name: string;
    label: string;
    options: string[];
    value: string | undefined;
  },
): JSX.Element {
  return (
    <div class="field">
      <label for={name}>{label}</label>
      <select id={name} name={name}>
        <option value="">All</option>
        {options.map((o) => (
          <option key={o} value={o} selected={o === value}>{o}</option>
        ))}
      </select>
    </div>
  );
}

function Text(
  { name, label, value, placeholder, list }: {
    name: string;
    label: string;
    value: string | undefined;
    placeholder: string;
    list?: string;
  },
): JSX.Element {
  return (
    <div class="field">
      <label for={name}>{label}</label>
      <input
        type="text"
        id={name}
        name={name}
        value={value ?? ""}
        placeholder={placeholder}
        {...(list ? { list } : {})}
      />
    </div>
  );
}

/** The form. */
export function AlertFilter(
  { action, filter, detectors, severities, statuses, reasons, states }: {
    action: string;
    filter: FilterModel;
    detectors: string[];
    severities: string[];
    statuses: string[];
    reasons: string[];
    /** Offered on the grouped list only. */
    states?: readonly string[];
  },
): JSX.Element {
  return (
    <form method="get" action={action} class="filters">
      <Text
        name="q"
        label="Search"
        value={filter.q}
        placeholder="any value: an IP, a host"
      />
      <Choice
        name="detector"
        label="Detector"
        options={detectors}
        value={filter.detector}
      />
      <Choice
        name="severity"
        label="Severity"
        options={severities}
        value={filter.severity}
      />
      <Choice
        name="status"
        label="Status"
        options={statuses}
        value={filter.status}
      />
      <Choice
        name="reason"
        label="Held by"
        options={reasons}
        value={filter.reason}
      />
      {states
        ? (
          <Choice
            name="state"
            label="State"
            options={[...states]}
            value={filter.state}
          />
        )
        : null}
      <Text
        name="since"
        label="Since"
        value={filter.since}
        placeholder="24h, or 2026-03-02T10:00"
        list="ago"
      />
      <Text
        name="until"
        label="Until"
        value={filter.until}
        placeholder="1h, or a date and time (UTC)"
        list="ago"
      />
      <datalist id="ago">
        {["15m", "1h", "24h", "7d", "30d"].map((d) => (
          <option key={d} value={d} />
        ))}
      </datalist>
      {filter.fingerprint
        ? <input type="hidden" name="fingerprint" value={filter.fingerprint} />
        : null}
      {filter.view
        ? <input type="hidden" name="view" value={filter.view} />
        : null}
      {filter.silence
        ? <input type="hidden" name="silence" value={filter.silence} />
        : null}
      <div class="field">
        <button type="submit" style="background:#2b6cb0;color:#fff;">
          Filter
        </button>
      </div>
    </form>
  );
}
