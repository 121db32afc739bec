/**
 * Server-rendered pages (one-click actions and alert pages): Preact, inline CSS, no scripts.
 *
 * @module
 */
export { Badge, Card, Facts, Page, renderPage } from "./Page.tsx";
export {
  type ActorModel,
  AlreadyDonePage,
  type ConfirmModel,
  ConfirmPage,
  type MessageModel,
  MessagePage,
  renderAlreadyDonePage,
  renderConfirmPage,
  renderMessagePage,
  renderResultPage,
  ResultPage,
  type RunModel,
  type StepOutcome,
  type StepPreview,
} from "./ActionPages.tsx";
export {
  type AlertDetailModel,
  AlertDetailPage,
  type AlertListModel,
  AlertListPage,
  type AlertRow,
  type AuditRow,
  type JiraLink,
  renderAlertDetailPage,
  renderAlertListPage,
} from "./AlertPages.tsx";
