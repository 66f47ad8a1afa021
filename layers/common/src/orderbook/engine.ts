import type { Cluster, Redis } from "ioredis";
import { ReplyError } from "ioredis";
import {
  type DecimalRejection,
  divideRounded,
  formatScaled,
  fromUnits,
  parseDecimal,
  type ScaledDecimal,
  toUnits,
} from "../decimal";
import { type Instrument, type InstrumentRegistry, priceBand } from "../instruments";
import { bookKeys, CANCEL_SCRIPT, DEPTH_SCRIPT, LOOKUP_SCRIPT, orderIdKey, SUBMIT_SCRIPT } from "./scripts";
import {
  type BookDepth,
  type BookLevel,
  type CommandResult,
  type EngineCommand,
  EngineCommandSchema,
  MatcherUnavailableError,
  type OrderState,
  type RejectReason,
  type Side,
  type TopOfBook,
  type Trade,
} from "./types";

/** Largest price in ticks or quantity in lots: keeps every integer in the Lua scripts exact. */
export const MAX_UNITS = 999_999_999_999_999n;
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

type ScriptReply = string | null;

interface BookScripts {
  tfSubmit(...args: string[]): Promise<ScriptReply>;
  tfCancel(...args: string[]): Promise<ScriptReply>;
  tfDepth(...args: string[]): Promise<[string[], string[], string, string]>;
  tfLookup(...args: string[]): Promise<ScriptReply>;
}

type ScriptedRedis = (Redis | Cluster) & BookScripts;

export interface MatchingEngineOptions {
  readonly redis: Redis | Cluster;
  readonly instruments: InstrumentRegistry;
  /** How long processed command ids are remembered (at least this long, at most twice). */
  readonly idempotencyTtlSeconds?: number;
}

const PRICE_REASONS: Record<DecimalRejection, RejectReason> = {
  INVALID_NUMBER: "INVALID_PRICE",
  NOT_POSITIVE: "INVALID_PRICE",
  TOO_MANY_DECIMALS: "PRICE_OFF_TICK",
  OFF_GRID: "PRICE_OFF_TICK",
  TOO_LARGE: "PRICE_TOO_LARGE",
};

const QUANTITY_REASONS: Record<DecimalRejection, RejectReason> = {
  INVALID_NUMBER: "INVALID_QUANTITY",
  NOT_POSITIVE: "INVALID_QUANTITY",
  TOO_MANY_DECIMALS: "QUANTITY_OFF_LOT",
  OFF_GRID: "QUANTITY_OFF_LOT",
  TOO_LARGE: "QUANTITY_TOO_LARGE",
};

const STATUS: Record<string, OrderState["status"]> = {
  N: "NEW",
  P: "PARTIALLY_FILLED",
  F: "FILLED",
  C: "CANCELLED",
};

const SCRIPTS = { tfSubmit: SUBMIT_SCRIPT, tfCancel: CANCEL_SCRIPT, tfDepth: DEPTH_SCRIPT, tfLookup: LOOKUP_SCRIPT };

function defineScripts(redis: Redis | Cluster): ScriptedRedis {
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 9, lua });
  }
  return redis as ScriptedRedis;
}

/** Connection failures and timeouts are retryable; a ReplyError is a real script or data error. */
async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ReplyError) throw err;
    throw new MatcherUnavailableError(`redis unavailable: ${(err as Error).message}`, { cause: err });
  }
}

function field(input: unknown, key: string): string {
  if (input && typeof input === "object" && key in input) {
    const value = (input as Record<string, unknown>)[key];
    if (typeof value === "string") return value.slice(0, 64);
  }
  return "";
}

export class MatchingEngine {
  private readonly redis: ScriptedRedis;
  private readonly instruments: InstrumentRegistry;
  private readonly ttlSeconds: number;

  constructor(options: MatchingEngineOptions) {
    this.redis = defineScripts(options.redis);
    this.instruments = options.instruments;
    this.ttlSeconds = options.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
  }

  /** Runs one command. Bad input gives a REJECTED result with a reason; it never throws for input. */
  async execute(input: unknown): Promise<CommandResult> {
    const parsed = EngineCommandSchema.safeParse(input);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "command"}: ${i.message}`).join("; ");
      return reject(
        {
          type: "UNKNOWN",
          orderId: field(input, "orderId"),
          clientId: field(input, "clientId"),
          symbol: field(input, "symbol"),
        },
        "INVALID_COMMAND",
        detail,
      );
    }
    const command = parsed.data;
    const instrument = this.instruments.get(command.symbol);
    if (!instrument) return reject(command, "UNKNOWN_SYMBOL", `symbol ${command.symbol} is not listed`);
    if (command.type === "CANCEL") return this.cancel(command, instrument);
    return this.submit(command, instrument);
  }

  private async submit(command: Exclude<EngineCommand, { type: "CANCEL" }>, instrument: Instrument) {
    const maxLots = toUnits(instrument.maxQuantity, instrument.lotSize, MAX_UNITS);
    const lots = toUnits(command.quantity, instrument.lotSize, maxLots.ok ? maxLots.units : MAX_UNITS);
    if (!lots.ok) {
      const detail = `quantity ${command.quantity}: ${lots.reason} (lot size ${instrument.lotSize}, max ${instrument.maxQuantity})`;
      return reject(command, QUANTITY_REASONS[lots.reason], detail);
    }
    let ticks = 0n;
    if (command.type === "LIMIT") {
      const price = toUnits(command.price, instrument.tickSize, MAX_UNITS);
      if (!price.ok) {
        const detail = `price ${command.price}: ${price.reason} (tick size ${instrument.tickSize})`;
        return reject(command, PRICE_REASONS[price.reason], detail);
      }
      ticks = price.units;
    }
    const limit = command.type === "LIMIT" ? command : undefined;
    const args = [
      command.orderId,
      command.clientId,
      command.side === "BUY" ? "B" : "S",
      limit ? "L" : "M",
      ticks.toString(),
      lots.units.toString(),
      (limit?.timeInForce ?? "IOC").charAt(0),
      limit?.postOnly ? "1" : "0",
      command.timestamp === undefined ? "" : String(command.timestamp),
      String(this.ttlSeconds),
    ];
    // Same id, same content: a replay. Same id, other content: rejected, never merged.
    const fingerprint = [command.clientId, ...args.slice(2, 8)].join("|");
    if (!(await this.claim(command.orderId, command.symbol))) {
      return reject(command, "DUPLICATE_ORDER_ID", "this order id is already used on another symbol");
    }
    const reply = await guarded(() =>
      this.redis.tfSubmit(
        ...bookKeys(command.symbol),
        ...args,
        fingerprint,
        String(instrument.priceBandBps),
        gridOf(instrument).notionalBound.toString(),
      ),
    );
    return decode(reply, command, instrument);
  }

  /**
   * Claims an order id for a symbol, on its own key (one symbol's scripts cannot see another's keys in a
   * cluster). True when the id is free or already this symbol's: the script then tells a replay from a reuse.
   * A claim lasts 2×TTL, as long as the symbol keeps the id's result at most: ids are unique within the
   * idempotency window (TTL..2×TTL).
   */
  private async claim(orderId: string, symbol: string): Promise<boolean> {
    const owner = await guarded(() =>
      this.redis.set(orderIdKey(orderId), symbol, "EX", 2 * this.ttlSeconds, "NX", "GET"),
    );
    return owner === null || owner === symbol;
  }

  private async cancel(command: Extract<EngineCommand, { type: "CANCEL" }>, instrument: Instrument) {
    const ts = command.timestamp === undefined ? "" : String(command.timestamp);
    const reply = await guarded(() =>
      this.redis.tfCancel(
        ...bookKeys(command.symbol),
        command.orderId,
        command.clientId,
        command.commandId,
        ts,
        String(this.ttlSeconds),
      ),
    );
    return decode(reply, command, instrument);
  }

  async depth(symbol: string, levels = 10): Promise<BookDepth> {
    const instrument = this.requireInstrument(symbol);
    const [bids, asks, last, tseq] = await guarded(() => this.redis.tfDepth(...bookKeys(symbol), String(levels)));
    return {
      symbol,
      bids: toLevels(bids, instrument),
      asks: toLevels(asks, instrument),
      lastTradePrice: last ? fromUnits(BigInt(last), instrument.tickSize) : null,
      tradeSequence: Number(tseq),
    };
  }

  async topOfBook(symbol: string): Promise<TopOfBook> {
    const book = await this.depth(symbol, 1);
    return { symbol, bid: book.bids[0] ?? null, ask: book.asks[0] ?? null, lastTradePrice: book.lastTradePrice };
  }

  /** The live or retained (terminal) order, as the engine holds it; null when unknown or past retention. */
  async getOrder(symbol: string, orderId: string): Promise<OrderState | null> {
    const instrument = this.requireInstrument(symbol);
    const rec = await guarded(() => this.redis.tfLookup(...bookKeys(symbol), orderId));
    return rec ? orderState(orderId, symbol, rec.split("|"), instrument) : null;
  }

  private requireInstrument(symbol: string): Instrument {
    const instrument = this.instruments.get(symbol);
    if (!instrument) throw new RangeError(`symbol ${symbol} is not listed`);
    return instrument;
  }
}

function toLevels(flat: string[], instrument: Instrument): BookLevel[] {
  const levels: BookLevel[] = [];
  let cumulative = 0n;
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const lots = BigInt(flat[i + 1] ?? "0");
    cumulative += lots;
    levels.push({
      price: fromUnits(BigInt(flat[i] ?? "0"), instrument.tickSize),
      quantity: fromUnits(lots, instrument.lotSize),
      orders: Number(flat[i + 2] ?? 0),
      cumulativeQuantity: fromUnits(cumulative, instrument.lotSize),
    });
  }
  return levels;
}

interface CommandIdentity {
  readonly type: EngineCommand["type"] | "UNKNOWN";
  readonly orderId: string;
  readonly clientId: string;
  readonly symbol: string;
  readonly side?: Side;
  readonly quantity?: string;
}

function reject(command: CommandIdentity, reason: RejectReason, message: string): CommandResult {
  return {
    commandType: command.type,
    orderId: command.orderId,
    clientId: command.clientId,
    symbol: command.symbol,
    side: command.side ?? null,
    status: "REJECTED",
    reason,
    message,
    quantity: command.quantity !== undefined && parseDecimal(command.quantity) ? command.quantity : "0",
    filledQuantity: "0",
    remainingQuantity: "0",
    cancelledQuantity: "0",
    averagePrice: null,
    trades: [],
    order: null,
    makers: [],
    version: null,
    replayed: false,
  };
}

const MESSAGES: Partial<Record<RejectReason, string>> = {
  DUPLICATE_ORDER_ID: "this order id was already used for a different order",
  DUPLICATE_COMMAND_ID: "this cancel command id was already used for a different cancel",
  POST_ONLY_WOULD_CROSS: "a post-only order may not take liquidity; it would have crossed the book",
  FOK_NOT_FILLABLE: "fill-or-kill: the book could not fill the whole quantity at the limit",
  UNKNOWN_ORDER: "no such order on this symbol (never seen, or past retention)",
  NOT_ORDER_OWNER: "only the client that placed an order may cancel it",
  ORDER_NOT_OPEN: "the order is already filled or cancelled",
};

interface Grid {
  readonly tick: ScaledDecimal;
  readonly lot: ScaledDecimal;
  /** maxNotional in tick × lot units, floored: a market order is refused when last ticks × lots exceed it. */
  readonly notionalBound: bigint;
}

const grids = new WeakMap<Instrument, Grid>();

/** An instrument's tick and lot as exact decimals, parsed once per instrument rather than per order state. */
function gridOf(instrument: Instrument): Grid {
  let grid = grids.get(instrument);
  if (!grid) {
    const [max, tick, lot] = [instrument.maxNotional, instrument.tickSize, instrument.lotSize].map((text) => {
      const value = parseDecimal(text);
      if (!value) throw new Error(`invalid decimal ${text}`);
      return value;
    }) as [ScaledDecimal, ScaledDecimal, ScaledDecimal];
    const notionalBound =
      (max.digits * 10n ** BigInt(tick.scale + lot.scale)) / (tick.digits * lot.digits * 10n ** BigInt(max.scale));
    grid = { tick, lot, notionalBound };
    grids.set(instrument, grid);
  }
  return grid;
}

/**
 * The message of a rejection. The band and the notional bound come from the script's reply (`detail`: the last
 * trade price in ticks and the bps or the bound it used), so a replay gives the same message byte for byte.
 */
function explain(reason: RejectReason, detail: string, lots: bigint, instrument: Instrument): string | null {
  const [last = 0n, limit = 0n] = detail.split(":").map(BigInt);
  const lastPrice = fromUnits(last, instrument.tickSize);
  if (reason === "PRICE_OUTSIDE_BAND") {
    const { lower, upper } = priceBand(lastPrice, Number(limit));
    return `the price is outside the band ${lower}..${upper}, ${limit} bps around the last trade price ${lastPrice}`;
  }
  if (reason === "NOTIONAL_TOO_LARGE") {
    const { tick, lot } = gridOf(instrument);
    const money = (tickLots: bigint) => formatScaled(tickLots * tick.digits * lot.digits, tick.scale + lot.scale);
    return `the market order's notional at the last trade price ${lastPrice} is ${money(last * lots)}, above the maximum ${money(limit)}`;
  }
  return MESSAGES[reason] ?? null;
}

function averagePrice(notionalTickLots: bigint, filledLots: bigint, instrument: Instrument): string | null {
  if (filledLots === 0n) return null;
  const { tick } = gridOf(instrument);
  return divideRounded(notionalTickLots * tick.digits, filledLots * 10n ** BigInt(tick.scale), tick.scale + 4);
}

/** An order record's fields (see scripts.ts) as the OrderState the engine reports. */
function orderState(orderId: string, symbol: string, fields: readonly string[], instrument: Instrument): OrderState {
  const [
    side,
    type,
    price = "0",
    qty = "0",
    filled = "0",
    cancelled = "0",
    status = "",
    ,
    notional = "0",
    lastSeq = "0",
    submittedAt = "0",
    version = "0",
    clientId = "",
  ] = fields;
  const size = (v: bigint) => fromUnits(v, instrument.lotSize);
  const [qtyLots, filledLots, cancelledLots] = [qty, filled, cancelled].map(BigInt) as [bigint, bigint, bigint];
  const state = STATUS[status];
  if (!state) throw new Error(`order ${orderId} has no open or terminal status: ${status}`);
  return {
    orderId,
    clientId,
    symbol,
    side: side === "B" ? "BUY" : "SELL",
    orderType: type === "L" ? "LIMIT" : "MARKET",
    price: type === "L" ? fromUnits(BigInt(price), instrument.tickSize) : null,
    status: state,
    quantity: size(qtyLots),
    filledQuantity: size(filledLots),
    remainingQuantity: size(qtyLots - filledLots - cancelledLots),
    cancelledQuantity: size(cancelledLots),
    averagePrice: averagePrice(BigInt(notional), filledLots, instrument),
    lastTradeId: lastSeq === "0" ? null : `${symbol}-${lastSeq}`,
    version: Number(version),
    submittedAt: Number(submittedAt),
  };
}

function decode(reply: ScriptReply, command: EngineCommand, instrument: Instrument): CommandResult {
  if (reply === null || reply === "X") {
    const reason = command.type === "CANCEL" ? "DUPLICATE_COMMAND_ID" : "DUPLICATE_ORDER_ID";
    return reject(command, reason, MESSAGES[reason]!);
  }
  const [flag, headLine = "", orderLine = "", ...tradeLines] = reply.split("\n");
  const [reason = "", version = "0", side, qty, filled, cancelled, ts, detail = ""] = headLine.split("|");
  const orderSide: Side | null = side === "B" ? "BUY" : side === "S" ? "SELL" : null;
  const size = (v: bigint) => fromUnits(v, instrument.lotSize);
  const [totalLots, filledLots, cancelledLots] = [qty, filled, cancelled].map((v) => BigInt(v || "0")) as [
    bigint,
    bigint,
    bigint,
  ];
  const makers: OrderState[] = [];
  const trades: Trade[] = tradeLines.map((line) => {
    const [seq = "0", tradePrice = "0", lots = "0", makerOrderId = "", ...record] = line.split("|");
    const maker = orderState(makerOrderId, command.symbol, record, instrument);
    makers.push(maker);
    return {
      tradeId: `${command.symbol}-${seq}`,
      symbol: command.symbol,
      price: fromUnits(BigInt(tradePrice), instrument.tickSize),
      quantity: size(BigInt(lots)),
      makerOrderId,
      makerClientId: maker.clientId,
      takerOrderId: command.orderId,
      takerClientId: command.clientId,
      aggressorSide: orderSide === "BUY" ? "BUY" : "SELL",
      sequence: Number(seq),
      timestamp: Number(ts),
      makerRemainingQuantity: maker.remainingQuantity,
    };
  });
  const order = orderLine ? orderState(command.orderId, command.symbol, orderLine.split("|"), instrument) : null;
  const rejectReason = reason ? (reason as RejectReason) : null;
  return {
    commandType: command.type,
    orderId: command.orderId,
    clientId: command.clientId,
    symbol: command.symbol,
    side: orderSide,
    status: order?.status ?? "REJECTED",
    reason: rejectReason,
    message: rejectReason ? explain(rejectReason, detail, totalLots, instrument) : null,
    quantity: size(totalLots),
    filledQuantity: size(filledLots),
    remainingQuantity: size(rejectReason && command.type !== "CANCEL" ? 0n : totalLots - filledLots - cancelledLots),
    cancelledQuantity: size(cancelledLots),
    averagePrice: order?.averagePrice ?? null,
    trades,
    order,
    makers,
    version: Number(version),
    replayed: flag === "R",
  };
}
