/**
 * Renders the emails to a full HTML document and a plain-text part.
 *
 * @module
 */
import { h } from "preact";
import { render } from "preact-render-to-string";
import {
  AlertEmail,
  type EmailModel,
  FollowUpEmail,
  type FollowUpModel,
} from "./AlertEmail.tsx";
import { alertText, followUpText } from "./text.ts";
import { markBidi } from "../core/headers.ts";

/**
 * The model with every bidirectional control in its strings shown as a mark (`[U+202E]`): a body
 * displays what a value holds, never text reordered by it.
 */
function marked<T>(value: T): T {
  if (typeof value === "string") return markBidi(value) as T;
  if (Array.isArray(value)) return value.map(marked) as T;
  if (value && typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[markBidi(k)] = marked(v);
    return out as T;
  }
  return value;
}

/** A rendered email: the HTML part and the plain-text part. */
export interface RenderedEmail {
  html: string;
  text: string;
}

/** The HTML document (the kicker's "·" is already `&middot;`, see `kickerHtml`). */
function documentHtml(body: string): string {
  return `<!DOCTYPE html>${body}`;
}

/** Renders the alert email. */
export function renderAlertEmail(raw: EmailModel): RenderedEmail {
  const model = marked(raw);
  return {
    html: documentHtml(render(h(AlertEmail, { model }))),
    text: alertText(model),
  };
}

/** Renders the follow-up email sent after a reply button's actions ran. */
export function renderFollowUpEmail(raw: FollowUpModel): RenderedEmail {
  const model = marked(raw);
  return {
    html: documentHtml(render(h(FollowUpEmail, { model }))),
    text: followUpText(model),
  };
}
