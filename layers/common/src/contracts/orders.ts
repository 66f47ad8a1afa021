// Order events from tradeflow.orders: the detail contracts, the canonical models and the matcher's commands.
import * as z from "zod";
import { STP_MODES } from "../instruments";
import {
  type AmendCommand,
  type CancelAllCommand,
  type CancelCommand,
  type LimitCommand,
  type MarketCommand,
  SIDES,
  TIME_IN_FORCE,
} from "../orderbook/types";
import { canonicalDecimal, Identifier, InstrumentSymbol, IsoUtcTimestamp, PositiveDecimal } from "./fields";

const orderFields = {
  clientId: Identifier,
  orderId: Identifier,
  symbol: InstrumentSymbol,
  side: z.enum(SIDES),
  quantity: PositiveDecimal,
  idempotencyKey: Identifier.optional(),
  /** Absent: the instrument's default mode. */
  selfTradePrevention: z.enum(STP_MODES).optional(),
};

/** detail of "Order Submitted". A market order never rests: it may only say IOC and postOnly false. */
export const OrderSubmittedDetailSchema = z.discriminatedUnion("type", [
  z
    .strictObject({
      ...orderFields,
      type: z.literal("LIMIT"),
      price: PositiveDecimal,
      timeInForce: z.enum(TIME_IN_FORCE).default("GTC"),
      postOnly: z.boolean().default(false),
    })
    .refine((o) => !o.postOnly || o.timeInForce === "GTC", {
      path: ["timeInForce"],
      message: "a post-only order must be GTC: IOC or FOK could never rest",
      params: { reason: "POST_ONLY_REQUIRES_GTC" },
    }),
  z.strictObject({
    ...orderFields,
    type: z.literal("MARKET"),
    timeInForce: z.literal("IOC").default("IOC"),
    postOnly: z.literal(false).default(false),
  }),
]);

/**
 * The trading API's order: {"order": <the request body>, "clientId": <the token's subject>}, as API Gateway's
 * mapping writes it. The body may not name a client; the rest of the order is the tradeflow.orders contract.
 */
export const ApiOrderSubmittedDetailSchema = z.strictObject({
  order: z.record(z.string(), z.unknown()).refine((order) => !("clientId" in order), {
    path: ["clientId"],
    message: "comes from the caller's token, never from the body",
  }),
  clientId: Identifier,
});

/** detail of "Order Cancel Requested". */
export const OrderCancelRequestedDetailSchema = z.strictObject({
  clientId: Identifier,
  orderId: Identifier,
  symbol: InstrumentSymbol,
  idempotencyKey: Identifier.optional(),
});

/** detail of "Order Amend Requested": a new limit price, a new total quantity (filled included), or both. */
export const OrderAmendRequestedDetailSchema = z
  .strictObject({
    clientId: Identifier,
    orderId: Identifier,
    symbol: InstrumentSymbol,
    price: PositiveDecimal.optional(),
    quantity: PositiveDecimal.optional(),
    idempotencyKey: Identifier.optional(),
  })
  .refine((d) => d.price !== undefined || d.quantity !== undefined, {
    message: "an amend changes price, quantity or both",
  });

/** detail of "Order Cancel All Requested": the client's live orders on one symbol, or on every symbol. */
export const OrderCancelAllRequestedDetailSchema = z.strictObject({
  clientId: Identifier,
  symbol: InstrumentSymbol.optional(),
  idempotencyKey: Identifier.optional(),
});

export type OrderSubmittedDetail = z.input<typeof OrderSubmittedDetailSchema>;
export type OrderCancelRequestedDetail = z.input<typeof OrderCancelRequestedDetailSchema>;
export type OrderAmendRequestedDetail = z.input<typeof OrderAmendRequestedDetailSchema>;
export type OrderCancelAllRequestedDetail = z.input<typeof OrderCancelAllRequestedDetailSchema>;

/** The canonical order: decimals in canonical spelling, null instead of absent. */
export const OrderSchema = z.object({
  orderId: Identifier,
  clientId: Identifier,
  symbol: InstrumentSymbol,
  side: z.enum(SIDES),
  type: z.enum(["LIMIT", "MARKET"]),
  price: PositiveDecimal.nullable(),
  quantity: PositiveDecimal,
  timeInForce: z.enum(TIME_IN_FORCE),
  postOnly: z.boolean(),
  selfTradePrevention: z.enum(STP_MODES).nullable(),
  idempotencyKey: Identifier.nullable(),
  /** The envelope time: when EventBridge accepted the order. */
  submittedAt: IsoUtcTimestamp,
});
export type Order = z.infer<typeof OrderSchema>;

export const CancelRequestSchema = z.object({
  /** The request's own id, the engine's idempotency key for it: idempotencyKey, else the EventBridge event id. */
  cancelId: Identifier,
  orderId: Identifier,
  clientId: Identifier,
  symbol: InstrumentSymbol,
  idempotencyKey: Identifier.nullable(),
  requestedAt: IsoUtcTimestamp,
});
export type CancelRequest = z.infer<typeof CancelRequestSchema>;

const commandMeta = {
  /** The engine's idempotency key for the request: idempotencyKey, else the EventBridge event id. */
  commandId: Identifier,
  clientId: Identifier,
  idempotencyKey: Identifier.nullable(),
  requestedAt: IsoUtcTimestamp,
};

export const AmendRequestSchema = z.object({
  ...commandMeta,
  orderId: Identifier,
  symbol: InstrumentSymbol,
  price: PositiveDecimal.nullable(),
  quantity: PositiveDecimal.nullable(),
});
export type AmendRequest = z.infer<typeof AmendRequestSchema>;

export const CancelAllRequestSchema = z.object({ ...commandMeta, symbol: InstrumentSymbol.nullable() });
export type CancelAllRequest = z.infer<typeof CancelAllRequestSchema>;

export function toOrder(detail: z.output<typeof OrderSubmittedDetailSchema>, submittedAt: string): Order {
  return {
    orderId: detail.orderId,
    clientId: detail.clientId,
    symbol: detail.symbol,
    side: detail.side,
    type: detail.type,
    price: detail.type === "LIMIT" ? canonicalDecimal(detail.price) : null,
    quantity: canonicalDecimal(detail.quantity),
    timeInForce: detail.timeInForce,
    postOnly: detail.postOnly,
    selfTradePrevention: detail.selfTradePrevention ?? null,
    idempotencyKey: detail.idempotencyKey ?? null,
    submittedAt,
  };
}

export function toCancelRequest(
  detail: z.output<typeof OrderCancelRequestedDetailSchema>,
  eventId: string,
  requestedAt: string,
): CancelRequest {
  return {
    cancelId: detail.idempotencyKey ?? eventId,
    orderId: detail.orderId,
    clientId: detail.clientId,
    symbol: detail.symbol,
    idempotencyKey: detail.idempotencyKey ?? null,
    requestedAt,
  };
}

export function toAmendRequest(
  detail: z.output<typeof OrderAmendRequestedDetailSchema>,
  eventId: string,
  requestedAt: string,
): AmendRequest {
  return {
    commandId: detail.idempotencyKey ?? eventId,
    orderId: detail.orderId,
    clientId: detail.clientId,
    symbol: detail.symbol,
    price: detail.price === undefined ? null : canonicalDecimal(detail.price),
    quantity: detail.quantity === undefined ? null : canonicalDecimal(detail.quantity),
    idempotencyKey: detail.idempotencyKey ?? null,
    requestedAt,
  };
}

export function toCancelAllRequest(
  detail: z.output<typeof OrderCancelAllRequestedDetailSchema>,
  eventId: string,
  requestedAt: string,
): CancelAllRequest {
  return {
    commandId: detail.idempotencyKey ?? eventId,
    clientId: detail.clientId,
    symbol: detail.symbol ?? null,
    idempotencyKey: detail.idempotencyKey ?? null,
    requestedAt,
  };
}

/**
 * The matcher's command for an order. A pure function of the order, whose times come from the envelope, so a
 * redelivered event yields the identical command and the engine sees a replay of the same order id.
 */
export function toOrderCommand(order: Order): LimitCommand | MarketCommand {
  const common = {
    orderId: order.orderId,
    clientId: order.clientId,
    symbol: order.symbol,
    side: order.side,
    quantity: order.quantity,
    ...(order.selfTradePrevention ? { selfTradePrevention: order.selfTradePrevention } : {}),
    timestamp: Date.parse(order.submittedAt),
  };
  if (order.type === "MARKET" || order.price === null) return { type: "MARKET", ...common };
  return { type: "LIMIT", ...common, price: order.price, timeInForce: order.timeInForce, postOnly: order.postOnly };
}

export function toCancelCommand(cancel: CancelRequest): CancelCommand {
  return {
    type: "CANCEL",
    commandId: cancel.cancelId,
    orderId: cancel.orderId,
    clientId: cancel.clientId,
    symbol: cancel.symbol,
    timestamp: Date.parse(cancel.requestedAt),
  };
}

export function toAmendCommand(amend: AmendRequest): AmendCommand {
  return {
    type: "AMEND",
    commandId: amend.commandId,
    orderId: amend.orderId,
    clientId: amend.clientId,
    symbol: amend.symbol,
    ...(amend.price === null ? {} : { price: amend.price }),
    ...(amend.quantity === null ? {} : { quantity: amend.quantity }),
    timestamp: Date.parse(amend.requestedAt),
  };
}

export function toCancelAllCommand(request: CancelAllRequest): CancelAllCommand {
  return {
    type: "CANCEL_ALL",
    commandId: request.commandId,
    clientId: request.clientId,
    ...(request.symbol === null ? {} : { symbol: request.symbol }),
    timestamp: Date.parse(request.requestedAt),
  };
}
