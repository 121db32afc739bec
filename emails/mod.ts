/**
 * Alert and follow-up emails: Preact components rendered to static, email-client safe HTML plus a
 * plain-text part.
 *
 * @module
 */
export {
  renderAlertEmail,
  type RenderedEmail,
  renderFollowUpEmail,
} from "./render.ts";
export {
  AlertEmail,
  type EmailButton,
  type EmailEnrichment,
  type EmailModel,
  FollowUpEmail,
  type FollowUpModel,
  type FollowUpStep,
  safeHref,
} from "./AlertEmail.tsx";
export { DATA_LIMITS, DataView } from "./DataView.tsx";
export { alertText, dataText, followUpText } from "./text.ts";
