// From one workflow state to what the compliance table must hold afterwards, as pure data. The engine's result
// says every order's state; the plan only lays it out as items: immutable facts (written once; a content hash
// tells a replay from a conflicting reuse of its key) and each order's current state (moved forward by the
// engine's version). Nothing here reads the table or derives state. See docs/data-model.md.
import { createHash } from "node:crypto";
import type * as z from "zod";
import type { PriceTick } from "../alerts/tick";
import {
  type Enrichment,
  Identifier,
  InstrumentSymbol,
  idsOf,
  type OrderState,
  type Trade,
  utcMillis,
  type VenueTradeDecision,
} from "../contracts";
import { compareDecimal } from "../decimal";
import { priceBand } from "../instruments";
import type { RecordInput } from "./input";

export type Item = Record<string, unknown>;

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** An immutable item: put only where its key is free. */
export interface Fact {
  readonly key: ItemKey;
  /** Hash of the business content only: provenance (event id, times) may differ between replays. */
  readonly contentHash: string;
  readonly item: Item;
}

/** An order's current state: put only over an older version of the same order. */
export interface StateWrite {
  readonly key: ItemKey;
  readonly state: OrderState;
  readonly item: Item;
}

export const COMPLIANCE_SOURCE = "tradeflow.compliance";
export type DomainEventType = "Trade Executed" | "Order Updated" | "Order Rejected";

export interface DomainEvent {
  readonly detailType: DomainEventType;
  readonly time: string;
  readonly detail: Item;
}

/** Who the event is about, for the receipt, a rejection or conflict record and their index keys. */
export interface Subject {
  readonly eventId: string;
  readonly source: string;
  readonly detailType: string;
  readonly eventTime: string;
  readonly payloadHash: string;
  /** The event's detail as JSON, cut at MAX_STORED_DETAIL_CHARS. */
  readonly detail: string;
  readonly detailTruncated: boolean;
  readonly symbol?: string;
  readonly clientId?: string;
  readonly orderId?: string;
}

export interface RecordPlan {
  readonly subject: Subject;
  /** Venue trades only: the event's receipt with its decision, written first; the first decision stands. */
  readonly receipt?: Fact;
  readonly facts: readonly Fact[];
  /** Written after the facts, so a reader never sees an order's state ahead of the facts behind it. */
  readonly states: readonly StateWrite[];
  readonly events: readonly DomainEvent[];
  /** One per trade, for the alert queue. */
  readonly ticks: readonly PriceTick[];
  readonly counts: { readonly orders: number; readonly trades: number; readonly rejections: number };
}

// Rejected events keep their detail for the record; EventBridge caps an event at 256 KiB, DynamoDB an item at 400.
const MAX_STORED_DETAIL_CHARS = 64 * 1024;

export const orderStateKey = (orderId: string): ItemKey => ({ pk: `ORDER#${orderId}`, sk: "META" });
export const orderVersionKey = (orderId: string, version: number): ItemKey => ({
  pk: `ORDER#${orderId}`,
  sk: `V#${String(version).padStart(15, "0")}`,
});
export const receiptKey = (eventId: string): ItemKey => ({ pk: `EVENT#${eventId}`, sk: "META" });
export const rejectionKey = (eventId: string): ItemKey => ({ pk: `REJECTION#${eventId}`, sk: "META" });
export const tradeKey = (tradeId: string): ItemKey => ({ pk: `TRADE#${tradeId}`, sk: "META" });
export const conflictKey = (subject: Subject): ItemKey => ({
  pk: `REJECTION#${subject.eventId}`,
  sk: `CONFLICT#${subject.payloadHash.slice(0, 16)}`,
});

/** JSON with sorted keys, so equal content always hashes equally. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export const contentHash = (content: unknown): string => createHash("sha256").update(stableJson(content)).digest("hex");

function fact(key: ItemKey, content: Item, extra: Item = {}): Fact {
  const hash = contentHash(content);
  return { key, contentHash: hash, item: { ...content, ...extra, ...key, contentHash: hash } };
}

const bySymbol = (symbol: string, time: string, id: string) => ({
  gsi1pk: `SYMBOL#${symbol}`,
  gsi1sk: `${time}#${id}`,
});
const byClient = (clientId: string, time: string, id: string) => ({
  gsi2pk: `CLIENT#${clientId}`,
  gsi2sk: `${time}#${id}`,
});

/** What the record keeps of the enrichment (not the instrument: that is configuration, not evidence). */
const enrichmentRecord = ({ instrument: _, ...kept }: Enrichment): Item =>
  Object.fromEntries(Object.entries(kept).filter(([, v]) => v !== undefined));

/** The band a venue trade is held to: the engine's last trade price as the Enrich state read it. */
export function decideVenueTrade(input: RecordInput): VenueTradeDecision {
  if (input.kind !== "PROCESSED") return { outcome: "ACCEPTED" };
  const { validated, enrichment } = input.processed;
  const last = enrichment.topOfBook?.lastTradePrice;
  const bps = enrichment.instrument?.priceBandBps;
  if (validated.kind !== "TRADE" || !last || bps === undefined) return { outcome: "ACCEPTED" };
  const { price } = validated.trade;
  const { lower, upper } = priceBand(last, bps);
  if (compareDecimal(price, lower) >= 0 && compareDecimal(price, upper) <= 0) return { outcome: "ACCEPTED" };
  return {
    outcome: "REJECTED",
    reasons: ["PRICE_OUTSIDE_BAND"],
    message: `${price} is outside ${lower}..${upper}, ${bps} bps around the last trade price ${last}`,
  };
}

/** A venue trade's decision is taken from `decided` when one was recorded before, else made now. */
export function planRecord(input: RecordInput, decided?: VenueTradeDecision): RecordPlan {
  if (input.kind === "REJECTED") return planRejection(input);
  if (input.processed.validated.kind === "TRADE") return planVenueTrade(input, decided ?? decideVenueTrade(input));
  return planMatch(input);
}

function subjectOf(
  eventId: string,
  source: string,
  detailType: string,
  eventTime: string,
  detail: unknown,
  ids: { symbol?: unknown; clientId?: unknown; orderId?: unknown },
): Subject {
  const text = typeof detail === "string" ? detail : (JSON.stringify(detail) ?? "null");
  // Only well-formed ids become index keys: a rejected event's fields may be anything.
  const pick = (value: unknown, schema: z.ZodType) => (schema.safeParse(value).success ? String(value) : undefined);
  return {
    eventId,
    source,
    detailType,
    eventTime,
    payloadHash: contentHash({ source, detailType, detail: text }),
    detail: text.slice(0, MAX_STORED_DETAIL_CHARS),
    detailTruncated: text.length > MAX_STORED_DETAIL_CHARS,
    symbol: pick(ids.symbol, InstrumentSymbol),
    clientId: pick(ids.clientId, Identifier),
    orderId: pick(ids.orderId, Identifier),
  };
}

function subjectIds({ orderId, clientId, symbol }: Subject): Item {
  return { ...(orderId ? { orderId } : {}), ...(clientId ? { clientId } : {}), ...(symbol ? { symbol } : {}) };
}

/** The subject's ids, and its index keys: a rejection or conflict is found by symbol and client like the rest. */
function subjectFields(subject: Subject): Item {
  const { eventId, eventTime, symbol, clientId } = subject;
  return {
    ...subjectIds(subject),
    ...(clientId ? byClient(clientId, eventTime, eventId) : {}),
    ...(symbol ? bySymbol(symbol, eventTime, eventId) : {}),
  };
}

/** The receipt names the event (its payload); the decision rides along, so a redelivery finds the first one. */
function receiptFact(subject: Subject, decision: VenueTradeDecision): Fact {
  return fact(
    receiptKey(subject.eventId),
    {
      entity: "EVENT",
      eventId: subject.eventId,
      source: subject.source,
      detailType: subject.detailType,
      payloadHash: subject.payloadHash,
    },
    // JSON text: the recorder reads it back from a failed condition's raw item.
    { eventTime: subject.eventTime, decision: JSON.stringify(decision) },
  );
}

/** Someone reused an id for other content: recorded beside the event, never over the first record. */
export function conflictFact(subject: Subject, conflicts: readonly ItemKey[]): Fact {
  return fact(
    conflictKey(subject),
    {
      entity: "REJECTION",
      stage: "RECORDER",
      eventId: subject.eventId,
      reasons: ["DUPLICATE_ID_CONFLICT"],
      source: subject.source,
      detailType: subject.detailType,
      payloadHash: subject.payloadHash,
    },
    {
      message: `already recorded with other content: ${conflicts.map((k) => `${k.pk}/${k.sk}`).join(", ")}`,
      conflicts: conflicts.map((k) => `${k.pk}/${k.sk}`),
      detail: subject.detail,
      eventTime: subject.eventTime,
      ...subjectFields(subject),
    },
  );
}

export function rejectedEvent(
  subject: Subject,
  stage: string,
  reasons: readonly string[],
  message: string,
): DomainEvent {
  return {
    detailType: "Order Rejected",
    time: subject.eventTime,
    detail: {
      eventId: subject.eventId,
      stage,
      reasons,
      message,
      source: subject.source,
      detailType: subject.detailType,
      ...subjectIds(subject),
    },
  };
}

function rejectionPlan(
  subject: Subject,
  stage: string,
  reasons: readonly string[],
  message: string,
  receipt?: Fact,
): RecordPlan {
  const rejection = fact(
    rejectionKey(subject.eventId),
    { entity: "REJECTION", stage, eventId: subject.eventId, payloadHash: subject.payloadHash },
    {
      reasons,
      message,
      source: subject.source,
      detailType: subject.detailType,
      eventTime: subject.eventTime,
      detail: subject.detail,
      ...(subject.detailTruncated ? { detailTruncated: true } : {}),
      ...subjectFields(subject),
    },
  );
  return {
    subject,
    ...(receipt ? { receipt } : {}),
    facts: [rejection],
    states: [],
    events: [rejectedEvent(subject, stage, reasons, message)],
    ticks: [],
    counts: { orders: 0, trades: 0, rejections: 1 },
  };
}

function planRejection(input: Extract<RecordInput, { kind: "REJECTED" }>): RecordPlan {
  const { event, rejection } = input;
  const detail = event.detail;
  const fields = detail !== null && typeof detail === "object" ? (detail as Record<string, unknown>) : {};
  const rawId = event.id;
  // An event rejected for its envelope may have no usable id; its content then names it.
  const eventId = Identifier.safeParse(rawId).success
    ? String(rawId)
    : `unidentified:${contentHash(event).slice(0, 32)}`;
  const time = typeof event.time === "string" && !Number.isNaN(Date.parse(event.time)) ? utcMillis(event.time) : null;
  const subject = subjectOf(
    eventId,
    typeof event.source === "string" ? event.source.slice(0, 256) : "",
    typeof event["detail-type"] === "string" ? event["detail-type"].slice(0, 128) : "",
    time ?? new Date(0).toISOString(),
    detail,
    { symbol: fields.symbol ?? fields.instrument_id, clientId: fields.clientId, orderId: fields.orderId },
  );
  return rejectionPlan(subject, "VALIDATION", rejection.reasons, rejection.message);
}

type Processed = Extract<RecordInput, { kind: "PROCESSED" }>;

function processedSubject({ envelope, processed: { validated } }: Processed): Subject {
  const ids = idsOf(validated);
  return subjectOf(envelope.id, envelope.source, envelope["detail-type"], validated.eventTime, envelope.detail, {
    symbol: ids.symbol ?? undefined,
    clientId: ids.clientId,
    orderId: ids.orderId,
  });
}

function planVenueTrade(input: Processed, decision: VenueTradeDecision): RecordPlan {
  const subject = processedSubject(input);
  const receipt = receiptFact(subject, decision);
  if (decision.outcome === "REJECTED")
    return rejectionPlan(subject, "RECORDER", decision.reasons, decision.message, receipt);
  const { validated, enrichment } = input.processed;
  if (validated.kind !== "TRADE") throw new Error("planVenueTrade needs a venue trade");
  const trade = validated.trade;
  return {
    subject,
    receipt,
    facts: [
      fact(
        tradeKey(trade.tradeId),
        { entity: "TRADE", origin: "VENUE", ...trade },
        {
          eventId: subject.eventId,
          source: subject.source,
          enrichment: enrichmentRecord(enrichment),
          ...bySymbol(trade.symbol, trade.executedAt, trade.tradeId),
        },
      ),
    ],
    states: [],
    events: [
      {
        detailType: "Trade Executed",
        time: trade.executedAt,
        detail: { ...trade, origin: "VENUE", eventId: subject.eventId },
      },
    ],
    ticks: [
      {
        symbol: trade.symbol,
        price: trade.price,
        tradeId: trade.tradeId,
        ...(trade.venueSequence === null ? {} : { sequence: trade.venueSequence }),
        timestamp: Date.parse(trade.executedAt),
        source: subject.source,
      },
    ],
    counts: { orders: 0, trades: 1, rejections: 0 },
  };
}

/** Why an order version exists: its own command, or (FILL, SELF_TRADE_PREVENTION, MASS_CANCEL) another order's. */
const OWN_CAUSE = { ORDER_SUBMIT: "SUBMIT", ORDER_CANCEL: "CANCEL", ORDER_AMEND: "AMEND" } as const;
type VersionCause = (typeof OWN_CAUSE)[keyof typeof OWN_CAUSE] | "FILL" | "SELF_TRADE_PREVENTION" | "MASS_CANCEL";

function planMatch(input: Processed): RecordPlan {
  const subject = processedSubject(input);
  const { validated, enrichment } = input.processed;
  if (validated.kind === "TRADE" || !validated.match) throw new Error("an order event needs the engine's match result");
  const match = validated.match;
  if (match.status === "REJECTED") {
    const reason = match.reason ?? "REJECTED";
    return rejectionPlan(subject, "ENGINE", [reason], match.message ?? "the matching engine rejected the command");
  }
  const provenance = { eventId: subject.eventId };
  const submission =
    validated.kind === "ORDER_SUBMIT"
      ? {
          timeInForce: validated.order.timeInForce,
          postOnly: validated.order.postOnly,
          idempotencyKey: validated.order.idempotencyKey,
          enrichment: enrichmentRecord(enrichment),
        }
      : {};
  const own =
    match.order && validated.kind !== "ORDER_CANCEL_ALL"
      ? [
          versionFact(match.order, OWN_CAUSE[validated.kind], match.trades, {
            ...provenance,
            ...submission,
            ...(match.selfTradePreventions.length > 0 ? { selfTradePreventions: match.selfTradePreventions } : {}),
          }),
        ]
      : [];
  const others = match.affected.map((o) => {
    const trades = match.trades.filter((t) => t.makerOrderId === o.orderId);
    const prevented = match.selfTradePreventions.filter((p) => p.restingOrderId === o.orderId);
    const cause =
      trades.length > 0 ? "FILL" : validated.kind === "ORDER_CANCEL_ALL" ? "MASS_CANCEL" : "SELF_TRADE_PREVENTION";
    return versionFact(o, cause, trades, {
      ...provenance,
      ...(prevented.length > 0 ? { selfTradePreventions: prevented } : {}),
    });
  });
  const states = [...(match.order ? [match.order] : []), ...match.affected];
  return {
    subject,
    facts: [...own, ...others],
    states: states.map(stateWrite),
    events: [
      ...match.trades.map((t) => ({
        detailType: "Trade Executed" as const,
        time: utcMillis(t.timestamp),
        detail: { ...t, origin: "ENGINE", executedAt: utcMillis(t.timestamp), eventId: subject.eventId },
      })),
      ...states.map((state) => ({
        detailType: "Order Updated" as const,
        time: subject.eventTime,
        detail: { ...state, eventId: subject.eventId },
      })),
    ],
    ticks: match.trades.map((t) => ({
      symbol: t.symbol,
      price: t.price,
      tradeId: t.tradeId,
      sequence: t.sequence,
      timestamp: t.timestamp,
      source: subject.source,
    })),
    counts: { orders: states.length, trades: match.trades.length, rejections: 0 },
  };
}

/**
 * One version of an order, with the trades it took part in at that version. The taker's version carries every
 * trade of the command and is indexed by symbol (the symbol's trades); any version with fills is indexed by client.
 */
function versionFact(state: OrderState, cause: VersionCause, trades: readonly Trade[], extra: Item) {
  const id = `${state.orderId}#${state.version}`;
  const executedAt = trades.length > 0 ? utcMillis(trades[trades.length - 1]!.timestamp) : undefined;
  const taker = cause === "SUBMIT" || cause === "AMEND";
  return fact(
    orderVersionKey(state.orderId, state.version),
    { entity: "ORDER_VERSION", cause, ...state, trades },
    {
      ...extra,
      ...(executedAt && taker ? bySymbol(state.symbol, executedAt, id) : {}),
      ...(executedAt ? byClient(state.clientId, executedAt, id) : {}),
    },
  );
}

function stateWrite(state: OrderState): StateWrite {
  const submittedAt = utcMillis(state.submittedAt);
  return {
    key: orderStateKey(state.orderId),
    state,
    item: {
      entity: "ORDER",
      ...state,
      ...orderStateKey(state.orderId),
      ...byClient(state.clientId, submittedAt, state.orderId),
    },
  };
}
