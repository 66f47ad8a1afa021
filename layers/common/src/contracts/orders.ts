// Order events from tradeflow.orders: the detail contracts, the canonical models and the matcher's commands.
import * as z from "zod";
import { type CancelCommand, type LimitCommand, type MarketCommand, SIDES, TIME_IN_FORCE } from "../orderbook/types";
import { canonicalDecimal, Identifier, InstrumentSymbol, IsoUtcTimestamp, PositiveDecimal } from "./fields";

const orderFields = {
  clientId: Identifier,
  orderId: Identifier,
  symbol: InstrumentSymbol,
  side: z.enum(SIDES),
  quantity: PositiveDecimal,
  idempotencyKey: Identifier.optional(),
};

/** detail of "Order Submitted". A market order never rests: it may only say IOC and postOnly false. */
export const OrderSubmittedDetailSchema = z.discriminatedUnion("type", [
  z.strictObject({
    ...orderFields,
    type: z.literal("LIMIT"),
    price: PositiveDecimal,
    timeInForce: z.enum(TIME_IN_FORCE).default("GTC"),
    postOnly: z.boolean().default(false),
  }),
  z.strictObject({
    ...orderFields,
    type: z.literal("MARKET"),
    timeInForce: z.literal("IOC").default("IOC"),
    postOnly: z.literal(false).default(false),
  }),
]);

/** detail of "Order Cancel Requested". */
export const OrderCancelRequestedDetailSchema = z.strictObject({
  clientId: Identifier,
  orderId: Identifier,
  symbol: InstrumentSymbol,
  idempotencyKey: Identifier.optional(),
});

export type OrderSubmittedDetail = z.input<typeof OrderSubmittedDetailSchema>;
export type OrderCancelRequestedDetail = z.input<typeof OrderCancelRequestedDetailSchema>;

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
