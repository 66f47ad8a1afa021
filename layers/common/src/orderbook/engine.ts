import { Cluster, type Redis, ReplyError } from "ioredis";
import {
  type DecimalRejection,
  divideRounded,
  formatScaled,
  fromUnits,
  MAX_UNITS,
  parseDecimal,
  type ScaledDecimal,
  toUnits,
} from "../decimal";
import { type Instrument, type InstrumentRegistry, priceBand, type StpMode } from "../instruments";
import {
  type BookFunction,
  bookKeys,
  candlesKey,
  commandKey,
  functionName,
  LIBRARY_CODE,
  orderIdKey,
  positionsKey,
  tradeKeys,
} from "./scripts";
import {
  type AmendCommand,
  type BookDepth,
  type BookLevel,
  CANDLE_INTERVALS,
  type CancelAllCommand,
  type CancelCommand,
  type Candle,
  type CandleInterval,
  type CommandResult,
  DAY_MS,
  type EngineCommand,
  EngineCommandSchema,
  type LimitCommand,
  type MarketCommand,
  MatcherUnavailableError,
  type OrderState,
  type Position,
  type RejectReason,
  type SelfTradePrevention,
  type Side,
  type TopOfBook,
  type Trade,
} from "./types";

export { MAX_UNITS };
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** A UTC day's candles are kept this long after the last trade written to them. */
export const DEFAULT_CANDLE_RETENTION_DAYS = 31;
/** A mass cancel cancels at most this many orders per command (its result must fit a Step Functions state). */
export const MAX_CANCEL_ALL = 100;

type ScriptReply = string | null;

export interface MatchingEngineOptions {
  readonly redis: Redis | Cluster;
  readonly instruments: InstrumentRegistry;
  /** How long processed command ids are remembered. */
  readonly idempotencyTtlSeconds?: number;
  /** How long a UTC day's candles are kept after the last trade written to them. */
  readonly candleRetentionDays?: number;
  /** The clock the scripts use for commands without a timestamp and for retention. */
  readonly now?: () => number;
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

const STP_CODES: Record<StpMode, string> = {
  NONE: "N",
  CANCEL_NEWEST: "W",
  CANCEL_OLDEST: "O",
  CANCEL_BOTH: "B",
  DECREMENT_AND_CANCEL: "D",
};
const STP_BY_CODE = Object.fromEntries(Object.entries(STP_CODES).map(([mode, code]) => [code, mode])) as Record<
  string,
  SelfTradePrevention["mode"]
>;

const isReply = (err: unknown, pattern: RegExp): boolean => err instanceof ReplyError && pattern.test(String(err));

/** Loads the library on every primary; one that has it already keeps it (the name carries the code's hash). */
async function loadLibrary(redis: Redis | Cluster): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  await Promise.all(
    nodes.map((node) =>
      node.call("FUNCTION", "LOAD", LIBRARY_CODE).catch((err: unknown) => {
        if (!isReply(err, /already exists/)) throw err;
      }),
    ),
  );
}

/** Calls one of the library's functions, loading the library first where Redis does not have it yet. */
async function call<T>(redis: Redis | Cluster, fn: BookFunction, keys: string[], args: string[]): Promise<T> {
  const run = () => redis.fcall(functionName(fn), keys.length, ...keys, ...args) as Promise<T>;
  try {
    return await run();
  } catch (err) {
    if (!isReply(err, /function not found/i)) throw err;
    await loadLibrary(redis);
    return run();
  }
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

type Submit = LimitCommand | MarketCommand;

export class MatchingEngine {
  private readonly redis: Redis | Cluster;
  private readonly instruments: InstrumentRegistry;
  private readonly ttlSeconds: number;
  private readonly candleTtlSeconds: number;
  private readonly now: () => number;

  constructor(options: MatchingEngineOptions) {
    this.redis = options.redis;
    this.instruments = options.instruments;
    this.ttlSeconds = options.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
    this.candleTtlSeconds = (options.candleRetentionDays ?? DEFAULT_CANDLE_RETENTION_DAYS) * 86_400;
    this.now = options.now ?? Date.now;
  }

  /** Runs one command. Bad input gives a REJECTED result with a reason; it never throws for input. */
  async execute(input: unknown): Promise<CommandResult> {
    const parsed = EngineCommandSchema.safeParse(input);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "command"}: ${i.message}`).join("; ");
      return reject(
        {
          type: "UNKNOWN",
          orderId: field(input, "orderId") || null,
          clientId: field(input, "clientId"),
          symbol: field(input, "symbol") || null,
        },
        "INVALID_COMMAND",
        detail,
      );
    }
    const command = parsed.data;
    if (command.type === "CANCEL_ALL" && command.symbol === undefined) return this.cancelEverywhere(command);
    const instrument = this.instruments.get(command.symbol ?? "");
    if (!instrument) return reject(identity(command), "UNKNOWN_SYMBOL", `symbol ${command.symbol} is not listed`);
    switch (command.type) {
      case "CANCEL":
        return this.cancel(command, instrument);
      case "AMEND":
        return this.amend(command, instrument);
      case "CANCEL_ALL":
        return this.cancelAll(command, instrument, MAX_CANCEL_ALL);
      default:
        return this.submit(command, instrument);
    }
  }

  private async submit(command: Submit, instrument: Instrument) {
    const lots = quantityUnits(command.quantity, instrument);
    if (!lots.ok) return reject(identity(command), lots.reason, lots.detail);
    let ticks = 0n;
    if (command.type === "LIMIT") {
      const price = priceUnits(command.price, instrument);
      if (!price.ok) return reject(identity(command), price.reason, price.detail);
      ticks = price.units;
      if (command.postOnly && command.timeInForce !== "GTC") {
        return reject(identity(command), "POST_ONLY_REQUIRES_GTC", MESSAGES.POST_ONLY_REQUIRES_GTC!);
      }
    }
    const limit = command.type === "LIMIT" ? command : undefined;
    const order = [
      command.side === "BUY" ? "B" : "S",
      limit ? "L" : "M",
      ticks.toString(),
      lots.units.toString(),
      (limit?.timeInForce ?? "IOC").charAt(0),
      limit?.postOnly ? "1" : "0",
      STP_CODES[command.selfTradePrevention ?? instrument.selfTradePrevention],
    ];
    // Same id, same content: a replay. Same id, other content: rejected, never merged.
    const fingerprint = [command.clientId, ...order].join("|");
    if (!(await this.claim(command.orderId, command.symbol))) {
      return reject(identity(command), "DUPLICATE_ORDER_ID", "this order id is already used on another symbol");
    }
    const clock = this.clock(command.timestamp);
    const reply = await guarded(() =>
      call<ScriptReply>(this.redis, "submit", tradeKeys(command.symbol, `r:${command.orderId}`, clock.at), [
        command.orderId,
        command.clientId,
        ...order,
        ...clock.args,
        fingerprint,
        String(instrument.priceBandBps),
        gridOf(instrument).notionalBound.toString(),
        String(this.candleTtlSeconds),
      ]),
    );
    return decode(reply, command, instrument);
  }

  /**
   * Claims an order id for a symbol, on its own key (one symbol's scripts cannot see another's keys in a
   * cluster). True when the id is free or already this symbol's: the script then tells a replay from a reuse.
   * A claim lasts 2×TTL, longer than the symbol keeps the id's result: ids are unique within that window.
   */
  private async claim(orderId: string, symbol: string): Promise<boolean> {
    const owner = await guarded(() =>
      this.redis.set(orderIdKey(orderId), symbol, "EX", 2 * this.ttlSeconds, "NX", "GET"),
    );
    return owner === null || owner === symbol;
  }

  /**
   * The command's timestamp (or ""), the engine's clock and the retention TTL, as the scripts take them; and the
   * time its trades get, which names the day of their candles.
   */
  private clock(timestamp: number | undefined): { args: string[]; at: number } {
    const now = this.now();
    const args = [timestamp === undefined ? "" : String(timestamp), String(now), String(this.ttlSeconds)];
    return { args, at: timestamp ?? now };
  }

  private async cancel(command: CancelCommand, instrument: Instrument) {
    const reply = await guarded(() =>
      call<ScriptReply>(this.redis, "cancel", bookKeys(command.symbol, `c:${command.commandId}`), [
        command.orderId,
        command.clientId,
        command.commandId,
        ...this.clock(command.timestamp).args,
      ]),
    );
    return decode(reply, command, instrument);
  }

  private async amend(command: AmendCommand, instrument: Instrument) {
    let ticks = "";
    let lots = "";
    if (command.price !== undefined) {
      const price = priceUnits(command.price, instrument);
      if (!price.ok) return reject(identity(command), price.reason, price.detail);
      ticks = price.units.toString();
    }
    if (command.quantity !== undefined) {
      const quantity = quantityUnits(command.quantity, instrument);
      if (!quantity.ok) return reject(identity(command), quantity.reason, quantity.detail);
      lots = quantity.units.toString();
    }
    const clock = this.clock(command.timestamp);
    const reply = await guarded(() =>
      call<ScriptReply>(this.redis, "amend", tradeKeys(command.symbol, `c:${command.commandId}`, clock.at), [
        command.orderId,
        command.clientId,
        command.commandId,
        ticks,
        lots,
        ...clock.args,
        String(instrument.priceBandBps),
        gridOf(instrument).notionalBound.toString(),
        String(this.candleTtlSeconds),
      ]),
    );
    return decode(reply, command, instrument);
  }

  private async cancelAll(command: CancelAllCommand, instrument: Instrument, max: number) {
    const reply = await guarded(() =>
      call<ScriptReply>(this.redis, "cancel_all", bookKeys(instrument.symbol, `c:${command.commandId}`), [
        command.clientId,
        command.commandId,
        ...this.clock(command.timestamp).args,
        String(max),
        massFingerprint(command),
      ]),
    );
    return decode(reply, { ...command, symbol: instrument.symbol }, instrument);
  }

  /**
   * A mass cancel over every listed symbol: one script per symbol, in the registry's order, sharing the
   * per-command limit. Each symbol keeps its own result under the command id, so a redelivery replays them all.
   */
  private async cancelEverywhere(command: CancelAllCommand): Promise<CommandResult> {
    // The id must be free, or this same command's (a stored result starts with its fingerprint), on every symbol
    // before any symbol runs: a refusal found on a later symbol would leave the earlier ones changed.
    const fingerprint = massFingerprint(command);
    const stored = await Promise.all(
      [...this.instruments.keys()].map((symbol) =>
        guarded(() => this.redis.get(commandKey(symbol, `c:${command.commandId}`))),
      ),
    );
    if (stored.some((seen) => seen !== null && !seen.startsWith(`${fingerprint}\n`))) {
      return reject(identity(command), "DUPLICATE_COMMAND_ID", MESSAGES.DUPLICATE_COMMAND_ID!);
    }
    const results: CommandResult[] = [];
    let budget = MAX_CANCEL_ALL;
    for (const instrument of this.instruments.values()) {
      const result = await this.cancelAll(command, instrument, budget);
      if (result.status === "REJECTED") return { ...result, symbol: null, version: null };
      budget -= result.affected.length;
      results.push(result);
    }
    return {
      ...mass(command, null),
      affected: results.flatMap((r) => r.affected),
      openOrdersLeft: results.reduce((sum, r) => sum + (r.openOrdersLeft ?? 0), 0),
      replayed: results.length > 0 && results.every((r) => r.replayed),
    };
  }

  async depth(symbol: string, levels = 10): Promise<BookDepth> {
    const instrument = this.requireInstrument(symbol);
    const [bids, asks, last, tseq] = await guarded(() =>
      call<[string[], string[], string, string]>(this.redis, "depth", bookKeys(symbol), [String(levels)]),
    );
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
    const rec = await guarded(() => call<ScriptReply>(this.redis, "lookup", bookKeys(symbol), [orderId]));
    return rec ? orderState(orderId, symbol, rec.split("|"), instrument) : null;
  }

  /**
   * The client's position on every listed symbol where it holds one or has realised P&L: one HGET per symbol, in
   * the registry's order.
   */
  async positions(clientId: string): Promise<Position[]> {
    const instruments = [...this.instruments.values()];
    const records = await guarded(() =>
      Promise.all(instruments.map((i) => this.redis.hget(positionsKey(i.symbol), clientId))),
    );
    return instruments.flatMap((instrument, i) => {
      const record = records[i];
      return record ? positionOf(record, instrument) : [];
    });
  }

  /**
   * The symbol's candles of `interval` that start at or after `from` and before `to` (epoch ms), oldest first; only
   * those with trades. One HMGET per UTC day of the range; a day past its retention has none.
   */
  async candles(symbol: string, interval: CandleInterval, from: number, to: number): Promise<Candle[]> {
    const instrument = this.requireInstrument(symbol);
    const length = CANDLE_INTERVALS[interval];
    const days = new Map<number, number[]>();
    for (let start = Math.ceil(from / length) * length; start < to; start += length) {
      const day = Math.floor(start / DAY_MS);
      const starts = days.get(day) ?? [];
      if (starts.length === 0) days.set(day, starts);
      starts.push(start);
    }
    const read = await guarded(() =>
      Promise.all(
        [...days].map(([day, starts]) =>
          this.redis.hmget(candlesKey(symbol, day), ...starts.map((start) => `${interval}:${start}`)),
        ),
      ),
    );
    const starts = [...days.values()].flat();
    return read.flat().flatMap((record, i) => (record ? [candleOf(starts[i] ?? 0, record, instrument)] : []));
  }

  private requireInstrument(symbol: string): Instrument {
    const instrument = this.instruments.get(symbol);
    if (!instrument) throw new RangeError(`symbol ${symbol} is not listed`);
    return instrument;
  }
}

type Units = { ok: true; units: bigint } | { ok: false; reason: RejectReason; detail: string };

function quantityUnits(quantity: string, instrument: Instrument): Units {
  const lots = toUnits(quantity, instrument.lotSize, gridOf(instrument).maxLots);
  if (lots.ok) return lots;
  const detail = `quantity ${quantity}: ${lots.reason} (lot size ${instrument.lotSize}, max ${instrument.maxQuantity})`;
  return { ok: false, reason: QUANTITY_REASONS[lots.reason], detail };
}

function priceUnits(price: string, instrument: Instrument): Units {
  const ticks = toUnits(price, instrument.tickSize, MAX_UNITS);
  if (ticks.ok) return ticks;
  const detail = `price ${price}: ${ticks.reason} (tick size ${instrument.tickSize})`;
  return { ok: false, reason: PRICE_REASONS[ticks.reason], detail };
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
  readonly type: CommandResult["commandType"];
  readonly orderId: string | null;
  readonly clientId: string;
  readonly symbol: string | null;
  readonly side?: Side;
  readonly quantity?: string;
}

function identity(command: EngineCommand): CommandIdentity {
  return {
    type: command.type,
    orderId: "orderId" in command ? command.orderId : null,
    clientId: command.clientId,
    symbol: command.symbol ?? null,
    side: "side" in command ? command.side : undefined,
    quantity: "quantity" in command ? command.quantity : undefined,
  };
}

/** A command's result with nothing done: no order, no trade, every size zero; callers set status and reason. */
function blank(command: CommandIdentity): CommandResult {
  return {
    commandType: command.type,
    orderId: command.orderId,
    clientId: command.clientId,
    symbol: command.symbol,
    side: command.side ?? null,
    status: "REJECTED",
    reason: null,
    message: null,
    quantity: command.quantity !== undefined && parseDecimal(command.quantity) ? command.quantity : "0",
    filledQuantity: "0",
    remainingQuantity: "0",
    cancelledQuantity: "0",
    averagePrice: null,
    trades: [],
    order: null,
    affected: [],
    selfTradePreventions: [],
    openOrdersLeft: null,
    version: null,
    replayed: false,
  };
}

function reject(command: CommandIdentity, reason: RejectReason, message: string): CommandResult {
  return { ...blank(command), reason, message };
}

/** What a mass cancel's command id stands for: its client and its scope, one symbol or every symbol ("*"). */
function massFingerprint(command: CancelAllCommand): string {
  return `M|${command.clientId}|${command.symbol ?? "*"}`;
}

/** A mass cancel's result before its orders are added. */
function mass(command: CancelAllCommand, symbol: string | null): CommandResult {
  return {
    ...blank({ type: "CANCEL_ALL", orderId: null, clientId: command.clientId, symbol }),
    status: "CANCELLED",
    openOrdersLeft: 0,
  };
}

const MESSAGES: Partial<Record<RejectReason, string>> = {
  DUPLICATE_ORDER_ID: "this order id was already used for a different order",
  DUPLICATE_COMMAND_ID: "this command id was already used for a different command",
  POST_ONLY_WOULD_CROSS: "a post-only order may not take liquidity; it would have crossed the book",
  POST_ONLY_REQUIRES_GTC: "a post-only order must be able to rest: it cannot be IOC or FOK",
  FOK_NOT_FILLABLE: "fill-or-kill: the book could not fill the whole quantity at the limit",
  UNKNOWN_ORDER: "no such order on this symbol (never seen, or past retention)",
  NOT_ORDER_OWNER: "only the client that placed an order may change or cancel it",
  ORDER_NOT_OPEN: "the order is already filled or cancelled",
  AMEND_QUANTITY_TOO_LOW:
    "an amended quantity must exceed what the order has filled and had cancelled; cancel it instead",
};

interface Grid {
  readonly tick: ScaledDecimal;
  readonly lot: ScaledDecimal;
  readonly maxLots: bigint;
  /** maxNotional in tick × lot units, floored: a market order is refused when last ticks × lots exceed it. */
  readonly notionalBound: bigint;
}

const grids = new WeakMap<Instrument, Grid>();

/** An instrument's grid as exact integers, computed once per instrument rather than per order. */
function gridOf(instrument: Instrument): Grid {
  let grid = grids.get(instrument);
  if (!grid) {
    const [max, tick, lot] = [instrument.maxNotional, instrument.tickSize, instrument.lotSize].map((text) => {
      const value = parseDecimal(text);
      if (!value) throw new Error(`invalid decimal ${text}`);
      return value;
    }) as [ScaledDecimal, ScaledDecimal, ScaledDecimal];
    const maxLots = toUnits(instrument.maxQuantity, instrument.lotSize, MAX_UNITS);
    if (!maxLots.ok)
      throw new Error(`${instrument.symbol}: maxQuantity ${instrument.maxQuantity} is not on its lot grid`);
    const notionalBound =
      (max.digits * 10n ** BigInt(tick.scale + lot.scale)) / (tick.digits * lot.digits * 10n ** BigInt(max.scale));
    grid = { tick, lot, maxLots: maxLots.units, notionalBound };
    grids.set(instrument, grid);
  }
  return grid;
}

/**
 * The message of a rejection. The band and the notional bound come from the script's reply (`detail`: the last
 * trade price in ticks and the bps or the bound it used), so a replay gives the same message byte for byte.
 */
function explain(
  reason: RejectReason,
  detail: string,
  lots: bigint,
  instrument: Instrument,
  kind: CommandResult["commandType"],
): string | null {
  // An amend's detail is its new price, the bound and its new quantity; the others' the last price and the limit.
  const [last = 0n, limit = 0n, amendedLots = lots] = detail.split(":").map(BigInt);
  const lastPrice = fromUnits(last, instrument.tickSize);
  if (reason === "PRICE_OUTSIDE_BAND") {
    const { lower, upper } = priceBand(lastPrice, Number(limit));
    return `the price is outside the band ${lower}..${upper}, ${limit} bps around the last trade price ${lastPrice}`;
  }
  if (reason === "NOTIONAL_TOO_LARGE") {
    const money = (tickLots: bigint) => moneyOf(tickLots, instrument);
    const what =
      kind === "AMEND"
        ? `amended order's notional at its price ${lastPrice}`
        : `market order's notional at the last trade price ${lastPrice}`;
    return `the ${what} is ${money(last * amendedLots)}, above the maximum ${money(limit)}`;
  }
  return MESSAGES[reason] ?? null;
}

/** An amount in price ticks × lots as money (quote currency), exact. */
function moneyOf(tickLots: bigint, instrument: Instrument): string {
  const { tick, lot } = gridOf(instrument);
  return formatScaled(tickLots * tick.digits * lot.digits, tick.scale + lot.scale);
}

/** A positions record (scripts.ts), or nothing when the client is flat with no realised P&L. */
function positionOf(record: string, instrument: Instrument): Position[] {
  const [net = 0n, cost = 0n, gains = 0n, losses = 0n] = record.split("|").map(BigInt);
  if (net === 0n && gains === losses) return [];
  return [
    {
      symbol: instrument.symbol,
      netQuantity: fromUnits(net, instrument.lotSize),
      costBasis: moneyOf(cost, instrument),
      averageCost: averagePrice(cost, net < 0n ? -net : net, instrument, "HALF_EVEN"),
      realisedPnl: moneyOf(gains - losses, instrument),
    },
  ];
}

/** A candle record (scripts.ts) of the interval starting at `start` (epoch ms). */
function candleOf(start: number, record: string, instrument: Instrument): Candle {
  const [open = "0", , , high = "0", low = "0", close = "0", , , volume = "0", notional = "0", trades = "0"] =
    record.split("|");
  const price = (ticks: string) => fromUnits(BigInt(ticks), instrument.tickSize);
  return {
    start: new Date(start).toISOString(),
    open: price(open),
    high: price(high),
    low: price(low),
    close: price(close),
    volume: fromUnits(BigInt(volume), instrument.lotSize),
    notional: moneyOf(BigInt(notional), instrument),
    vwap: averagePrice(BigInt(notional), BigInt(volume), instrument, "HALF_EVEN") ?? "0",
    tradeCount: Number(trades),
  };
}

/**
 * Ticks × lots over lots as a price to the tick's decimals + 4: an order's average fill price (half-up), a position's
 * average cost and a candle's VWAP (half-even); null over no lots.
 */
function averagePrice(
  tickLots: bigint,
  lots: bigint,
  instrument: Instrument,
  rounding: "HALF_UP" | "HALF_EVEN" = "HALF_UP",
): string | null {
  if (lots === 0n) return null;
  const { tick } = gridOf(instrument);
  return divideRounded(tickLots * tick.digits, lots * 10n ** BigInt(tick.scale), tick.scale + 4, rounding);
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
    ,
    ,
    ...client
  ] = fields;
  const size = (v: bigint) => fromUnits(v, instrument.lotSize);
  const [qtyLots, filledLots, cancelledLots] = [qty, filled, cancelled].map(BigInt) as [bigint, bigint, bigint];
  const state = STATUS[status];
  if (!state) throw new Error(`order ${orderId} has no open or terminal status: ${status}`);
  return {
    orderId,
    clientId: client.join("|"),
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

function decode(
  reply: ScriptReply,
  command: Exclude<EngineCommand, CancelAllCommand> | (CancelAllCommand & { symbol: string }),
  instrument: Instrument,
): CommandResult {
  const symbol = command.symbol;
  const orderId = "orderId" in command ? command.orderId : null;
  if (reply === null || reply === "X") {
    const reason =
      command.type === "LIMIT" || command.type === "MARKET" ? "DUPLICATE_ORDER_ID" : "DUPLICATE_COMMAND_ID";
    return reject(identity(command), reason, MESSAGES[reason]!);
  }
  const [flag, headLine = "", orderLine = "", ...lines] = reply.split("\n");
  const [reason = "", version = "0", side, qty, filled, cancelled, ts, detail = ""] = headLine.split("|");
  const orderSide: Side | null = side === "B" ? "BUY" : side === "S" ? "SELL" : null;
  const size = (v: bigint) => fromUnits(v, instrument.lotSize);
  const [totalLots, filledLots, cancelledLots] = [qty, filled, cancelled].map((v) => BigInt(v || "0")) as [
    bigint,
    bigint,
    bigint,
  ];
  const affected: OrderState[] = [];
  const preventions: SelfTradePrevention[] = [];
  const fills: string[][] = [];
  for (const line of lines) {
    const [tag, ...parts] = line.split("|");
    if (tag === "A") affected.push(orderState(parts[0] ?? "", symbol, parts.slice(1), instrument));
    else if (tag === "T") fills.push(parts);
    else {
      const [restingOrderId = "", mode = "", mine = "0", theirs = "0"] = parts;
      preventions.push({
        restingOrderId,
        mode: STP_BY_CODE[mode] ?? "CANCEL_NEWEST",
        incomingCancelledQuantity: size(BigInt(mine)),
        restingCancelledQuantity: size(BigInt(theirs)),
      });
    }
  }
  const clients = new Map(affected.map((o) => [o.orderId, o.clientId]));
  const trades: Trade[] = fills.map(([seq = "0", tradePrice = "0", lots = "0", makerOrderId = "", left = "0"]) => ({
    tradeId: `${symbol}-${seq}`,
    symbol,
    price: fromUnits(BigInt(tradePrice), instrument.tickSize),
    quantity: size(BigInt(lots)),
    makerOrderId,
    makerClientId: clients.get(makerOrderId) ?? "",
    takerOrderId: orderId ?? "",
    takerClientId: command.clientId,
    aggressorSide: orderSide === "BUY" ? "BUY" : "SELL",
    sequence: Number(seq),
    timestamp: Number(ts),
    makerRemainingQuantity: size(BigInt(left)),
  }));
  const order = orderLine && orderId ? orderState(orderId, symbol, orderLine.split("|"), instrument) : null;
  const rejectReason = reason ? (reason as RejectReason) : null;
  const base: CommandResult =
    command.type === "CANCEL_ALL"
      ? { ...mass(command, symbol), openOrdersLeft: Number(detail) }
      : {
          ...blank(identity(command)),
          side: orderSide,
          status: order?.status ?? "REJECTED",
          reason: rejectReason,
          message: rejectReason ? explain(rejectReason, detail, totalLots, instrument, command.type) : null,
          quantity: size(totalLots),
          filledQuantity: size(filledLots),
          remainingQuantity: size(
            rejectReason && command.type !== "CANCEL" ? 0n : totalLots - filledLots - cancelledLots,
          ),
          cancelledQuantity: size(cancelledLots),
          averagePrice: order?.averagePrice ?? null,
        };
  return {
    ...base,
    trades,
    order,
    affected,
    selfTradePreventions: preventions,
    version: Number(version),
    replayed: flag === "R",
  };
}
