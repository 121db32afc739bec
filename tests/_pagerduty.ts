/**
 * A fake PagerDuty Events API v2 on loopback (a fake, as the brief allows for PagerDuty): `POST
 * /v2/enqueue` answers 202 for a valid event and records it, 400 naming what is missing otherwise,
 * checking the documented shapes (32-character `routing_key`, `event_action`, `dedup_key` required for
 * acknowledge and resolve, a trigger's `payload.summary`, `source`, `severity`, ISO `timestamp`).
 *
 * @module
 */
import { startReceiver } from "./_http.ts";

/** A fake PagerDuty Events API v2: 202 for a valid event, 400 naming what is missing. */
export function fakePagerDuty() {
  const events: Record<string, unknown>[] = [];
  const receiver = startReceiver(({ method, path, headers, body }) => {
    if (method !== "POST" || path !== "/v2/enqueue") {
      return new Response("Not found", { status: 404 });
    }
    const errors: string[] = [];
    let event: Record<string, unknown> = {};
    try {
      event = JSON.parse(body);
    } catch {
      errors.push("body is not JSON");
    }
    if (!/^application\/json/.test(headers.get("content-type") ?? "")) {
      errors.push("Content-Type must be application/json");
    }
    if (
      typeof event.routing_key !== "string" || event.routing_key.length !== 32
    ) {
      errors.push("'routing_key' must be a 32-character integration key");
    }
    if (
      !["trigger", "acknowledge", "resolve"].includes(
        String(event.event_action),
      )
    ) {
      errors.push("'event_action' is invalid");
    }
    if (event.dedup_key !== undefined && String(event.dedup_key).length > 255) {
      errors.push("'dedup_key' is longer than 255");
    }
    if (
      event.event_action !== "trigger" && typeof event.dedup_key !== "string"
    ) {
      errors.push("'dedup_key' is required for acknowledge and resolve");
    }
    if (event.event_action === "trigger") {
      const p = (event.payload ?? {}) as Record<string, unknown>;
      if (
        typeof p.summary !== "string" || !p.summary || p.summary.length > 1024
      ) {
        errors.push("'payload.summary' is required (at most 1024)");
      }
      if (typeof p.source !== "string" || !p.source) {
        errors.push("'payload.source' is required");
      }
      if (
        !["critical", "error", "warning", "info"].includes(String(p.severity))
      ) {
        errors.push("'payload.severity' is invalid");
      }
      if (
        p.timestamp !== undefined &&
        Number.isNaN(Date.parse(String(p.timestamp)))
      ) {
        errors.push("'payload.timestamp' is not ISO 8601");
      }
    }
    if (errors.length) {
      return Response.json({
        status: "invalid event",
        message: "Event object is invalid",
        errors,
      }, { status: 400 });
    }
    events.push(event);
    return Response.json({
      status: "success",
      message: "Event processed",
      dedup_key: event.dedup_key ?? `pd-${events.length}`,
    }, { status: 202 });
  });
  return { ...receiver, events };
}
