// From one workflow state to what the compliance table must hold afterwards, as pure data. Every item is either
// an immutable fact (written once; a content hash tells a replay from a conflicting reuse of its key) or the
// order's META projection (moved forward only, by version). See docs/data-model.md.
import { createHash } from "node:crypto";
import type * as z from "zod";
import type { PriceTick } from "../alerts/tick";
import { type Enrichment, Identifier, InstrumentSymbol, type Order, utcMillis } from "../contracts";
import { parseDecimal } from "../decimal";
import type { OrderStatus, Side } from "../orderbook/types";
import { type CommandResult, type EngineTrade, MAX_SEQUENCE, type RecordInput } from "./input";

export type Item = Record<string, unknown>;

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

export interface Fact {
  readonly key: ItemKey;
  /** Hash of the business content only: provenance (event id, times) may differ between replays. */
  readonly contentHash: string;
  readonly item: Item;
}

/** An order's state after this event, as far as the event knows it. */
export interface OrderChange {
  readonly orderId: string;
  readonly clientId: string;
  readonly symbol: string;
  readonly side: Side | null;
  readonly version: number;
  readonly status: OrderStatus;
  readonly remainingQuantity: string;
  /** Present when the engine reported the whole order (its own submit or cancel); a maker fill does not. */
  readonly filledQuantity?: string;
  readonly cancelledQuantity?: string;
  readonly quantity?: string;
  readonly tradeId?: string;
  /** The order's own attributes: only its submit event has them. */
  readonly submission?: { readonly orderHash: string; readonly quantity: string; readonly attributes: Item };
}

export const COMPLIANCE_SOURCE = "tradeflow.compliance";
export type DomainEventType = "Trade Executed" | "Order Updated" | "Order Rejected";

export interface DomainEvent {
  readonly detailType: DomainEventType;
  readonly time: string;
  readonly detail: Item;
}

/** Who the event is about, for the receipt, a conflict record and their index keys. */
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
  readonly facts: readonly Fact[];
  readonly orders: readonly OrderChange[];
  readonly events: readonly DomainEvent[];
  /** One per trade: sent to the alert queue, and the newest per symbol moves LAST_TRADE. */
  readonly ticks: readonly PriceTick[];
  readonly counts: { readonly orders: number; readonly trades: number; readonly rejections: number };
}

/** A cancelled order never changes again: its version is above every sequence-derived one. */
export const TERMINAL_VERSION = MAX_SEQUENCE + 1;
// Rejected events keep their detail for the record; EventBridge caps an event at 256 KiB, DynamoDB an item at 400.
const MAX_STORED_DETAIL_CHARS = 64 * 1024;

export const orderKey = (orderId: string): ItemKey => ({ pk: `ORDER#${orderId}`, sk: "META" });
export const statusKey = (orderId: string, version: number): ItemKey => ({
  pk: `ORDER#${orderId}`,
  sk: `STATUS#${String(version).padStart(15, "0")}`,
});
export const receiptKey = (eventId: string): ItemKey => ({ pk: `EVENT#${eventId}`, sk: "META" });
export const rejectionKey = (eventId: string): ItemKey => ({ pk: `REJECTION#${eventId}`, sk: "META" });
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

export function versionOf(status: OrderStatus, trades: readonly EngineTrade[]): number {
  if (status === "CANCELLED") return TERMINAL_VERSION;
  return trades.reduce((max, t) => Math.max(max, t.sequence), 0);
}

/** What the record keeps of the enrichment (not the instrument: that is configuration, not evidence). */
const enrichmentRecord = ({ instrument: _, ...kept }: Enrichment): Item =>
  Object.fromEntries(Object.entries(kept).filter(([, v]) => v !== undefined));

export function planRecord(input: RecordInput): RecordPlan {
  return input.kind === "REJECTED" ? planRejection(input) : planProcessed(input);
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

/** The receipt of a recorded event: written with the event's first new item, so a pure duplicate writes nothing. */
export function receiptFact(subject: Subject): Fact {
  return fact(
    receiptKey(subject.eventId),
    {
      entity: "EVENT",
      eventId: subject.eventId,
      source: subject.source,
      detailType: subject.detailType,
      payloadHash: subject.payloadHash,
    },
    { eventTime: subject.eventTime },
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

function rejectionPlan(subject: Subject, stage: string, reasons: readonly string[], message: string): RecordPlan {
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
    facts: [rejection],
    orders: [],
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

function planProcessed(input: Extract<RecordInput, { kind: "PROCESSED" }>): RecordPlan {
  const { envelope, processed } = input;
  const { validated, enrichment } = processed;
  const ids =
    validated.kind === "ORDER_SUBMIT"
      ? validated.order
      : validated.kind === "ORDER_CANCEL"
        ? validated.cancel
        : validated.trade;
  const subject = subjectOf(
    envelope.id,
    envelope.source,
    envelope["detail-type"],
    validated.eventTime,
    envelope.detail,
    {
      symbol: ids.symbol,
      clientId: "clientId" in ids ? ids.clientId : undefined,
      orderId: "orderId" in ids ? ids.orderId : undefined,
    },
  );

  if (validated.kind === "TRADE") {
    const trade = validated.trade;
    const content = { entity: "TRADE", origin: "VENUE", ...trade };
    const timestamp = Date.parse(trade.executedAt);
    return {
      subject,
      facts: [
        fact(metaKey(`TRADE#${trade.tradeId}`), content, {
          eventId: subject.eventId,
          source: envelope.source,
          enrichment: enrichmentRecord(enrichment),
          ...bySymbol(trade.symbol, trade.executedAt, trade.tradeId),
        }),
      ],
      orders: [],
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
          timestamp,
          source: envelope.source,
        },
      ],
      counts: { orders: 0, trades: 1, rejections: 0 },
    };
  }

  const match = validated.match!;
  if (match.status === "REJECTED") {
    return rejectionPlan(
      subject,
      "ENGINE",
      [match.reason ?? "REJECTED"],
      match.message ?? "the matching engine rejected the command",
    );
  }

  const own: OrderChange = {
    orderId: match.orderId,
    clientId: match.clientId,
    symbol: match.symbol,
    side: match.side,
    version: versionOf(match.status, match.trades),
    status: match.status,
    remainingQuantity: match.remainingQuantity,
    filledQuantity: match.filledQuantity,
    cancelledQuantity: match.cancelledQuantity,
    quantity: match.quantity,
    ...(validated.kind === "ORDER_SUBMIT" ? { submission: submissionOf(validated.order, subject, enrichment) } : {}),
  };
  const makers = match.trades.map(makerChange);
  const changes = [own, ...makers];
  const cause = validated.kind === "ORDER_SUBMIT" ? "SUBMIT" : "CANCEL";
  const facts = [
    statusFact(own, cause, subject.eventId, match),
    ...match.trades.flatMap((t, i) => tradeFacts(t, subject.eventId, makers[i]!)),
  ];
  return {
    subject,
    facts,
    orders: changes,
    events: [
      ...match.trades.map((t) => ({
        detailType: "Trade Executed" as const,
        time: utcMillis(t.timestamp),
        detail: { ...t, origin: "ENGINE", executedAt: utcMillis(t.timestamp), eventId: subject.eventId },
      })),
      ...changes.map((c) => ({
        detailType: "Order Updated" as const,
        time: subject.eventTime,
        detail: orderUpdated(c, subject.eventId),
      })),
    ],
    ticks: match.trades.map((t) => ({
      symbol: t.symbol,
      price: t.price,
      tradeId: t.tradeId,
      sequence: t.sequence,
      timestamp: t.timestamp,
      source: envelope.source,
    })),
    counts: { orders: 1, trades: match.trades.length, rejections: 0 },
  };
}

const metaKey = (pk: string): ItemKey => ({ pk, sk: "META" });

function submissionOf(order: Order, subject: Subject, enrichment: Enrichment) {
  // The engine's notion of "the same order" (its replay fingerprint), plus the symbol.
  const identity = {
    orderId: order.orderId,
    clientId: order.clientId,
    symbol: order.symbol,
    side: order.side,
    type: order.type,
    price: order.price,
    quantity: order.quantity,
    timeInForce: order.timeInForce,
    postOnly: order.postOnly,
  };
  const orderHash = contentHash(identity);
  return {
    orderHash,
    quantity: order.quantity,
    attributes: {
      ...identity,
      entity: "ORDER",
      idempotencyKey: order.idempotencyKey,
      submittedAt: order.submittedAt,
      submitEventId: subject.eventId,
      orderHash,
      enrichment: enrichmentRecord(enrichment),
      ...bySymbol(order.symbol, order.submittedAt, order.orderId),
      ...byClient(order.clientId, order.submittedAt, order.orderId),
    },
  };
}

/** A resting order filled by this trade: what the trade tells about it. */
function makerChange(t: EngineTrade): OrderChange {
  return {
    orderId: t.makerOrderId,
    clientId: t.makerClientId,
    symbol: t.symbol,
    side: t.aggressorSide === "BUY" ? "SELL" : "BUY",
    version: t.sequence,
    status: parseDecimal(t.makerRemainingQuantity)?.digits === 0n ? "FILLED" : "PARTIALLY_FILLED",
    remainingQuantity: t.makerRemainingQuantity,
    tradeId: t.tradeId,
  };
}

function statusFact(
  change: OrderChange,
  cause: "SUBMIT" | "CANCEL" | "FILL",
  eventId: string,
  match?: CommandResult,
): Fact {
  return fact(
    statusKey(change.orderId, change.version),
    {
      entity: "ORDER_STATUS",
      orderId: change.orderId,
      version: change.version,
      cause,
      status: change.status,
      remainingQuantity: change.remainingQuantity,
      ...(change.filledQuantity === undefined ? {} : { filledQuantity: change.filledQuantity }),
      ...(change.cancelledQuantity === undefined ? {} : { cancelledQuantity: change.cancelledQuantity }),
      ...(change.tradeId === undefined ? {} : { tradeId: change.tradeId }),
      ...(match?.averagePrice ? { averagePrice: match.averagePrice } : {}),
    },
    { eventId },
  );
}

/** The trade itself, the trade under each of its two orders, and the maker's status after it. */
function tradeFacts(t: EngineTrade, eventId: string, maker: OrderChange): Fact[] {
  const executedAt = utcMillis(t.timestamp);
  const underOrder = (role: "MAKER" | "TAKER", orderId: string, clientId: string) =>
    fact(
      { pk: `ORDER#${orderId}`, sk: `TRADE#${t.tradeId}` },
      { entity: "ORDER_TRADE", role, orderId, ...t },
      {
        executedAt,
        eventId,
        ...byClient(clientId, executedAt, t.tradeId),
      },
    );
  return [
    fact(
      metaKey(`TRADE#${t.tradeId}`),
      { entity: "TRADE", origin: "ENGINE", ...t },
      {
        executedAt,
        eventId,
        ...bySymbol(t.symbol, executedAt, t.tradeId),
      },
    ),
    underOrder("TAKER", t.takerOrderId, t.takerClientId),
    underOrder("MAKER", t.makerOrderId, t.makerClientId),
    statusFact(maker, "FILL", eventId),
  ];
}

function orderUpdated(c: OrderChange, eventId: string): Item {
  return {
    orderId: c.orderId,
    clientId: c.clientId,
    symbol: c.symbol,
    side: c.side,
    status: c.status,
    version: c.version,
    remainingQuantity: c.remainingQuantity,
    ...(c.filledQuantity === undefined ? {} : { filledQuantity: c.filledQuantity }),
    ...(c.cancelledQuantity === undefined ? {} : { cancelledQuantity: c.cancelledQuantity }),
    ...(c.tradeId === undefined ? {} : { tradeId: c.tradeId }),
    eventId,
  };
}
