// From whatever the workflow was started with to one normalized order, cancel or trade. Structure only:
// the business rules that need configuration live in the validation module.
import { API_SOURCE, EVENT_ROUTES, EventEnvelopeSchema, MAX_DETAIL_BYTES, routeOf } from "./envelope";
import type { Violation } from "./errors";
import { preview, utcMillis, violationsFrom } from "./fields";
import {
  type AmendRequest,
  ApiOrderSubmittedDetailSchema,
  type CancelAllRequest,
  type CancelRequest,
  type Order,
  OrderAmendRequestedDetailSchema,
  OrderCancelAllRequestedDetailSchema,
  OrderCancelRequestedDetailSchema,
  OrderSubmittedDetailSchema,
  toAmendRequest,
  toCancelAllRequest,
  toCancelRequest,
  toOrder,
} from "./orders";
import { parseTradeDetail, type ReportedTrade } from "./trades";

export interface EventMeta {
  readonly eventId: string;
  readonly source: string;
  readonly detailType: string;
  /** The envelope time, normalized to UTC milliseconds. */
  readonly eventTime: string;
}

export type NormalizedEvent = EventMeta &
  (
    | { readonly kind: "ORDER_SUBMIT"; readonly order: Order }
    | { readonly kind: "ORDER_CANCEL"; readonly cancel: CancelRequest }
    | { readonly kind: "ORDER_AMEND"; readonly amend: AmendRequest }
    | { readonly kind: "ORDER_CANCEL_ALL"; readonly cancelAll: CancelAllRequest }
    | { readonly kind: "TRADE"; readonly trade: ReportedTrade }
  );

export type EventParse = { ok: true; event: NormalizedEvent } | { ok: false; violations: Violation[] };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const kindOf = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value);

const refuse = (reason: Violation["reason"], path: string, text: string): EventParse => ({
  ok: false,
  violations: [{ reason, path, text }],
});

function detailProblem(detail: unknown): EventParse | undefined {
  if (detail === undefined) return refuse("MALFORMED_DETAIL", "detail", "is missing");
  if (typeof detail === "string") {
    let decoded: unknown;
    try {
      decoded = JSON.parse(detail);
    } catch {
      return refuse("MALFORMED_DETAIL", "detail", `is a string that is not JSON: ${preview(detail)}`);
    }
    const hint = isObject(decoded) ? "JSON-encoded twice? send the object itself" : "expected a JSON object";
    return refuse("MALFORMED_DETAIL", "detail", `is a JSON string (${hint})`);
  }
  if (!isObject(detail)) return refuse("MALFORMED_DETAIL", "detail", `must be a JSON object, got ${kindOf(detail)}`);
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(detail));
  } catch {
    return refuse("MALFORMED_DETAIL", "detail", "is not serializable as JSON");
  }
  if (bytes > MAX_DETAIL_BYTES) {
    return refuse("PAYLOAD_TOO_LARGE", "detail", `is ${bytes} bytes of JSON; the limit is ${MAX_DETAIL_BYTES}`);
  }
  return undefined;
}

/** The API's order as a tradeflow.orders detail, with the client id from the token. */
function apiOrderDetail(detail: unknown): { ok: true; detail: unknown } | { ok: false; violations: Violation[] } {
  const parsed = ApiOrderSubmittedDetailSchema.safeParse(detail);
  if (!parsed.success) return { ok: false, violations: violationsFrom(parsed.error, detail, "detail") };
  return { ok: true, detail: { ...parsed.data.order, clientId: parsed.data.clientId } };
}

/** Never throws for any input: a normalized event, or every structural violation found. */
export function parseEvent(input: unknown): EventParse {
  if (!isObject(input)) return refuse("NOT_AN_EVENT", "", `expected an EventBridge event object, got ${kindOf(input)}`);
  const envelope = EventEnvelopeSchema.safeParse(input);
  if (!envelope.success) {
    return { ok: false, violations: violationsFrom(envelope.error, input, "", "INVALID_ENVELOPE") };
  }
  const { id, source, "detail-type": detailType, time, detail } = envelope.data;
  const route = routeOf(source, detailType);
  if (!route) {
    const known = EVENT_ROUTES.map((r) => `${r.source}/${r.detailType}`).join(", ");
    return refuse("UNKNOWN_EVENT_TYPE", "", `${preview(source)}/${preview(detailType)} is not one of ${known}`);
  }
  const problem = detailProblem(detail);
  if (problem) return problem;

  const meta: EventMeta = { eventId: id, source, detailType, eventTime: utcMillis(time) };
  switch (route.kind) {
    case "ORDER_SUBMIT": {
      const api = source === API_SOURCE ? apiOrderDetail(detail) : undefined;
      if (api && !api.ok) return api;
      const submitted = api ? api.detail : detail;
      const parsed = OrderSubmittedDetailSchema.safeParse(submitted);
      if (!parsed.success) {
        return { ok: false, violations: violationsFrom(parsed.error, submitted, api ? "detail.order" : "detail") };
      }
      return { ok: true, event: { ...meta, kind: "ORDER_SUBMIT", order: toOrder(parsed.data, meta.eventTime) } };
    }
    case "ORDER_CANCEL": {
      const parsed = OrderCancelRequestedDetailSchema.safeParse(detail);
      if (!parsed.success) return { ok: false, violations: violationsFrom(parsed.error, detail, "detail") };
      const cancel = toCancelRequest(parsed.data, meta.eventId, meta.eventTime);
      return { ok: true, event: { ...meta, kind: "ORDER_CANCEL", cancel } };
    }
    case "ORDER_AMEND": {
      const parsed = OrderAmendRequestedDetailSchema.safeParse(detail);
      if (!parsed.success) return { ok: false, violations: violationsFrom(parsed.error, detail, "detail") };
      const amend = toAmendRequest(parsed.data, meta.eventId, meta.eventTime);
      return { ok: true, event: { ...meta, kind: "ORDER_AMEND", amend } };
    }
    case "ORDER_CANCEL_ALL": {
      const parsed = OrderCancelAllRequestedDetailSchema.safeParse(detail);
      if (!parsed.success) return { ok: false, violations: violationsFrom(parsed.error, detail, "detail") };
      const cancelAll = toCancelAllRequest(parsed.data, meta.eventId, meta.eventTime);
      return { ok: true, event: { ...meta, kind: "ORDER_CANCEL_ALL", cancelAll } };
    }
    case "TRADE": {
      const normalized = parseTradeDetail[route.venue](detail);
      return normalized.ok ? { ok: true, event: { ...meta, kind: "TRADE", trade: normalized.trade } } : normalized;
    }
  }
}

/** The symbol the event is about; null for a mass cancel over every symbol. */
export function symbolOf(event: NormalizedEvent): string | null {
  return idsOf(event).symbol;
}

/** The request or trade inside a normalized event: its ids. */
export function idsOf(event: NormalizedEvent): { symbol: string | null; clientId?: string; orderId?: string } {
  switch (event.kind) {
    case "ORDER_SUBMIT":
      return event.order;
    case "ORDER_CANCEL":
      return event.cancel;
    case "ORDER_AMEND":
      return event.amend;
    case "ORDER_CANCEL_ALL":
      return event.cancelAll;
    case "TRADE":
      return event.trade;
  }
}

/** Ids worth putting on every log line, read defensively from any input (it may be garbage). */
export function correlationIds(input: unknown): Record<string, string> {
  const ids: Record<string, string> = {};
  const put = (key: string, value: unknown) => {
    if (typeof value === "string" && value.length > 0) ids[key] = value.slice(0, 128);
  };
  if (!isObject(input)) return ids;
  put("eventId", input.id);
  put("executionId", input.executionId);
  if (isObject(input.detail)) {
    put("orderId", input.detail.orderId);
    put("clientId", input.detail.clientId);
    put("tradeId", input.detail.tradeId ?? input.detail.trade_id);
  }
  return ids;
}
