// What the matching engine says: the result of one command, with the authoritative state of every order it
// touched. The Match state returns it and the recorder writes it as it is; nothing downstream derives state.
import * as z from "zod";
import { STP_MODES, type StpMode } from "../instruments";
import { REJECT_REASONS, type RejectReason, SIDES, type Side } from "../orderbook/types";
import { Decimal, Identifier, InstrumentSymbol, PositiveDecimal } from "./fields";

export const ORDER_STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const ORDER_TYPES = ["LIMIT", "MARKET"] as const;
export type OrderType = (typeof ORDER_TYPES)[number];

/** A command sequence: per symbol, assigned inside Redis, growing by one per executed command. */
export const MAX_VERSION = 999_999_999_999_999;
const version = z.number().int().positive().max(MAX_VERSION);
const epochMillis = z.number().int().nonnegative().max(8_640_000_000_000_000);

export interface Trade {
  /** Deterministic: `${symbol}-${sequence}`; a replayed stream on a fresh book yields the same ids. */
  readonly tradeId: string;
  readonly symbol: string;
  readonly price: string;
  readonly quantity: string;
  readonly makerOrderId: string;
  readonly makerClientId: string;
  readonly takerOrderId: string;
  readonly takerClientId: string;
  readonly aggressorSide: Side;
  /** Per-symbol trade sequence, from 1. */
  readonly sequence: number;
  /** Epoch milliseconds: the command's timestamp, or the Redis server clock when the command had none. */
  readonly timestamp: number;
  /** What the maker order still rests with after this fill. */
  readonly makerRemainingQuantity: string;
}

export const TradeSchema = z.object({
  tradeId: Identifier,
  symbol: InstrumentSymbol,
  price: PositiveDecimal,
  quantity: PositiveDecimal,
  makerOrderId: Identifier,
  makerClientId: Identifier,
  takerOrderId: Identifier,
  takerClientId: Identifier,
  aggressorSide: z.enum(SIDES),
  sequence: z.number().int().positive().max(MAX_VERSION),
  timestamp: epochMillis,
  makerRemainingQuantity: Decimal,
}) satisfies z.ZodType<Trade>;

/** One order's whole state after a command, as the engine holds it. */
export interface OrderState {
  readonly orderId: string;
  readonly clientId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  /** The limit price; null for a market order. */
  readonly price: string | null;
  readonly status: Exclude<OrderStatus, "REJECTED">;
  readonly quantity: string;
  readonly filledQuantity: string;
  /** Still resting in the book. */
  readonly remainingQuantity: string;
  readonly cancelledQuantity: string;
  /** Quantity-weighted over every fill, rounded half-up to the tick's decimals + 4; null with no fill. */
  readonly averagePrice: string | null;
  readonly lastTradeId: string | null;
  /** The command sequence that produced this state: an order's versions only grow. */
  readonly version: number;
  /** Epoch milliseconds of the order's submit command. */
  readonly submittedAt: number;
}

export const OrderStateSchema = z.object({
  orderId: Identifier,
  clientId: Identifier,
  symbol: InstrumentSymbol,
  side: z.enum(SIDES),
  orderType: z.enum(ORDER_TYPES),
  price: PositiveDecimal.nullable(),
  status: z.enum(["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELLED"]),
  quantity: PositiveDecimal,
  filledQuantity: Decimal,
  remainingQuantity: Decimal,
  cancelledQuantity: Decimal,
  averagePrice: PositiveDecimal.nullable(),
  lastTradeId: Identifier.nullable(),
  version,
  submittedAt: epochMillis,
}) satisfies z.ZodType<OrderState>;

/** One self-trade the engine prevented: the incoming order met a resting order of its own client. */
export interface SelfTradePrevention {
  readonly restingOrderId: string;
  /** The incoming order's mode, which decides. */
  readonly mode: Exclude<StpMode, "NONE">;
  /** Cancelled from the incoming order. */
  readonly incomingCancelledQuantity: string;
  /** Cancelled from the resting order. */
  readonly restingCancelledQuantity: string;
}

export const SelfTradePreventionSchema = z.object({
  restingOrderId: Identifier,
  mode: z.enum(STP_MODES).exclude(["NONE"]),
  incomingCancelledQuantity: Decimal,
  restingCancelledQuantity: Decimal,
}) satisfies z.ZodType<SelfTradePrevention>;

export const COMMAND_TYPES = ["LIMIT", "MARKET", "CANCEL", "AMEND", "CANCEL_ALL", "UNKNOWN"] as const;

export interface CommandResult {
  readonly commandType: (typeof COMMAND_TYPES)[number];
  /** The submitted order, or the cancel's or amend's target; null for a mass cancel. */
  readonly orderId: string | null;
  readonly clientId: string;
  /** Null for a mass cancel over every symbol. */
  readonly symbol: string | null;
  readonly side: Side | null;
  readonly status: OrderStatus;
  readonly reason: RejectReason | null;
  /** A person-readable explanation for a rejection. */
  readonly message: string | null;
  readonly quantity: string;
  readonly filledQuantity: string;
  readonly remainingQuantity: string;
  readonly cancelledQuantity: string;
  /** Quantity-weighted average fill price, rounded half-up to the tick's decimals + 4; null with no fill. */
  readonly averagePrice: string | null;
  readonly trades: readonly Trade[];
  /**
   * The state of the order this command was about (the submitted order, or a cancel's or amend's target) after
   * it; null when the command was rejected, so a rejection never reveals anything about an order, and for a
   * mass cancel.
   */
  readonly order: OrderState | null;
  /**
   * Every other order this command changed, in the state the command left it, in the order first touched: the
   * makers it filled, resting orders self-trade prevention cancelled or decremented, the orders a mass cancel
   * cancelled.
   */
  readonly affected: readonly OrderState[];
  readonly selfTradePreventions: readonly SelfTradePrevention[];
  /** A mass cancel only: the client's live orders it left, over its per-command limit (null otherwise). */
  readonly openOrdersLeft: number | null;
  /**
   * The command sequence this command got; null when it was refused before reaching the book, and for a mass
   * cancel over every symbol (each order's state has its own symbol's version).
   */
  readonly version: number | null;
  /** True when this command id was processed before: the original result, and nothing changed. */
  readonly replayed: boolean;
}

export const CommandResultSchema = z.object({
  commandType: z.enum(COMMAND_TYPES),
  orderId: Identifier.nullable(),
  clientId: Identifier,
  symbol: InstrumentSymbol.nullable(),
  side: z.enum(SIDES).nullable(),
  status: z.enum(ORDER_STATUSES),
  reason: z.enum(REJECT_REASONS).nullable(),
  message: z.string().max(1024).nullable(),
  quantity: Decimal,
  filledQuantity: Decimal,
  remainingQuantity: Decimal,
  cancelledQuantity: Decimal,
  averagePrice: PositiveDecimal.nullable(),
  trades: z.array(TradeSchema).max(1000),
  order: OrderStateSchema.nullable(),
  affected: z.array(OrderStateSchema).max(1000),
  selfTradePreventions: z.array(SelfTradePreventionSchema).max(1000),
  openOrdersLeft: z.number().int().nonnegative().nullable(),
  version: version.nullable(),
  replayed: z.boolean(),
}) satisfies z.ZodType<CommandResult>;
