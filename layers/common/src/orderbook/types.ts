// The matching engine's public types. Prices and quantities cross this boundary as decimal strings;
// inside the book they are integer ticks and lots.
import * as z from "zod";
import { STP_MODES } from "../instruments";

export const SIDES = ["BUY", "SELL"] as const;
export const TIME_IN_FORCE = ["GTC", "IOC", "FOK"] as const;

export type Side = (typeof SIDES)[number];
export type TimeInForce = (typeof TIME_IN_FORCE)[number];
export type {
  CommandResult,
  OrderState,
  OrderStatus,
  OrderType,
  SelfTradePrevention,
  Trade,
} from "../contracts/engine";

/** Why the engine refused a command. Stable strings: callers and records match on them. */
export const REJECT_REASONS = [
  "INVALID_COMMAND",
  "UNKNOWN_SYMBOL",
  "INVALID_PRICE",
  "INVALID_QUANTITY",
  "PRICE_OFF_TICK",
  "QUANTITY_OFF_LOT",
  "PRICE_TOO_LARGE",
  "QUANTITY_TOO_LARGE",
  "DUPLICATE_ORDER_ID",
  "DUPLICATE_COMMAND_ID",
  "POST_ONLY_WOULD_CROSS",
  "PRICE_OUTSIDE_BAND",
  "NOTIONAL_TOO_LARGE",
  "FOK_NOT_FILLABLE",
  "UNKNOWN_ORDER",
  "NOT_ORDER_OWNER",
  "ORDER_NOT_OPEN",
  "POST_ONLY_REQUIRES_GTC",
  "AMEND_QUANTITY_TOO_LOW",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "1-64 characters of A-Z a-z 0-9 . _ : -");
const decimalText = z.string().max(40);
const timestamp = z.number().int().nonnegative().max(8_640_000_000_000_000).optional();
const symbol = z.string().min(1).max(16);
/** Absent: the instrument's default. The incoming order's mode decides when it meets its own client's order. */
const selfTradePrevention = z.enum(STP_MODES).optional();

export const LimitCommandSchema = z
  .object({
    type: z.literal("LIMIT"),
    orderId: id,
    clientId: id,
    symbol,
    side: z.enum(SIDES),
    price: decimalText,
    quantity: decimalText,
    timeInForce: z.enum(TIME_IN_FORCE).default("GTC"),
    postOnly: z.boolean().default(false),
    selfTradePrevention,
    timestamp,
  })
  .strict();

export const MarketCommandSchema = z
  .object({
    type: z.literal("MARKET"),
    orderId: id,
    clientId: id,
    symbol,
    side: z.enum(SIDES),
    quantity: decimalText,
    selfTradePrevention,
    timestamp,
  })
  .strict();

export const CancelCommandSchema = z
  .object({
    type: z.literal("CANCEL"),
    /** The cancel request's own id: its idempotency key (an order may see several cancel attempts). */
    commandId: id,
    orderId: id,
    clientId: id,
    symbol,
    timestamp,
  })
  .strict();

/** Changes a resting order's limit price, its total quantity (filled included), or both. */
export const AmendCommandSchema = z
  .object({
    type: z.literal("AMEND"),
    commandId: id,
    orderId: id,
    clientId: id,
    symbol,
    price: decimalText.optional(),
    quantity: decimalText.optional(),
    timestamp,
  })
  .strict()
  .refine((c) => c.price !== undefined || c.quantity !== undefined, "an amend changes price, quantity or both");

/** Cancels the client's live orders on one symbol, or on every listed symbol when symbol is absent. */
export const CancelAllCommandSchema = z
  .object({ type: z.literal("CANCEL_ALL"), commandId: id, clientId: id, symbol: symbol.optional(), timestamp })
  .strict();

export const EngineCommandSchema = z.discriminatedUnion("type", [
  LimitCommandSchema,
  MarketCommandSchema,
  CancelCommandSchema,
  AmendCommandSchema,
  CancelAllCommandSchema,
]);

export type EngineCommandInput = z.input<typeof EngineCommandSchema>;
export type EngineCommand = z.output<typeof EngineCommandSchema>;
export type LimitCommand = z.output<typeof LimitCommandSchema>;
export type MarketCommand = z.output<typeof MarketCommandSchema>;
export type CancelCommand = z.output<typeof CancelCommandSchema>;
export type AmendCommand = z.output<typeof AmendCommandSchema>;
export type CancelAllCommand = z.output<typeof CancelAllCommandSchema>;

export interface BookLevel {
  readonly price: string;
  readonly quantity: string;
  readonly orders: number;
  readonly cumulativeQuantity: string;
}

export interface BookDepth {
  readonly symbol: string;
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
  readonly lastTradePrice: string | null;
  readonly tradeSequence: number;
}

export interface TopOfBook {
  readonly symbol: string;
  readonly bid: BookLevel | null;
  readonly ask: BookLevel | null;
  readonly lastTradePrice: string | null;
}

/** Candle intervals and their length in milliseconds; a UTC day holds a whole number of each. */
export const CANDLE_INTERVALS = { "1m": 60_000, "5m": 300_000, "1h": 3_600_000 } as const;
export type CandleInterval = keyof typeof CANDLE_INTERVALS;
export const DAY_MS = 86_400_000;

/**
 * A client's position on one symbol, from every trade the engine made for it, FIFO. Money (cost basis, realised
 * P&L) is in the quote currency, exact: price × quantity.
 */
export interface Position {
  readonly symbol: string;
  /** Signed: negative when short. */
  readonly netQuantity: string;
  /** Σ price × quantity over the open lots, exact. */
  readonly costBasis: string;
  /** costBasis ÷ |netQuantity|, rounded half-even to the tick's decimals + 4; null when flat. */
  readonly averageCost: string | null;
  /** Signed: gains minus losses of every closed lot, exact. */
  readonly realisedPnl: string;
}

/** The trades of one interval on one symbol: first and last by (trade time, trade sequence). */
export interface Candle {
  /** The interval's start, ISO 8601 UTC. */
  readonly start: string;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
  /** Σ price × quantity, exact. */
  readonly notional: string;
  /** notional ÷ volume, rounded half-even to the tick's decimals + 4. */
  readonly vwap: string;
  readonly tradeCount: number;
}

/** Redis could not be reached or did not answer in time. The state machine retries it by this name. */
export class MatcherUnavailableError extends Error {
  override readonly name = "MatcherUnavailableError";
}
