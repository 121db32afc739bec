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

/** A rendered email: the HTML part and the plain-text part. */
export interface RenderedEmail {
  html: string;
  text: string;
}

/** Renders the alert email. */
export function renderAlertEmail(model: EmailModel): RenderedEmail {
  return {
    html: `<!DOCTYPE html>${render(h(AlertEmail, { model }))}`,
    text: alertText(model),
  };
}

/** Renders the follow-up email sent after a reply button's actions ran. */
export function renderFollowUpEmail(model: FollowUpModel): RenderedEmail {
  return {
    html: `<!DOCTYPE html>${render(h(FollowUpEmail, { model }))}`,
    text: followUpText(model),
  };
}
