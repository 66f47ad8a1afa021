// A small in-memory order book written for the tests, independent of the Redis scripts: plain arrays,
// BigInt ticks and lots, price-time priority by array order. The property tests run the same command
// streams through it and through the engine and require identical trades, outcomes, order states and books.
import { compareDecimal, divideRounded, fromUnits, multiply, parseDecimal, toUnits } from "@tradeflow/common/decimal";
import type { Instrument } from "@tradeflow/common/instruments";
import type { EngineCommandInput, OrderState, OrderStatus, RejectReason } from "@tradeflow/common/orderbook";

interface RestingOrder {
  id: string;
  side: "BUY" | "SELL";
  price: bigint;
  remaining: bigint;
}

interface ModelOrder {
  id: string;
  client: string;
  side: "BUY" | "SELL";
  type: "LIMIT" | "MARKET";
  price: bigint | null;
  qty: bigint;
  filled: bigint;
  cancelled: bigint;
  status: OrderStatus;
  /** Sum of price ticks × lots over every fill. */
  notional: bigint;
  lastSeq: number;
  version: number;
  submittedAt: number;
}

export interface ModelTrade {
  price: string;
  quantity: string;
  makerOrderId: string;
  takerOrderId: string;
  sequence: number;
  makerRemainingQuantity: string;
}

export interface ModelOutcome {
  status: OrderStatus;
  reason: RejectReason | null;
  filledQuantity: string;
  cancelledQuantity: string;
  averagePrice: string | null;
  trades: ModelTrade[];
  order: OrderState | null;
  makers: OrderState[];
  version: number | null;
}

export interface ModelLevel {
  price: string;
  quantity: string;
  orders: number;
}

type Submit = Extract<EngineCommandInput, { type: "LIMIT" | "MARKET" }>;

class SymbolBook {
  bids: RestingOrder[] = [];
  asks: RestingOrder[] = [];
  orders = new Map<string, ModelOrder>();
  submits = new Map<string, { fingerprint: string; outcome: ModelOutcome }>();
  cancels = new Map<string, { fingerprint: string; outcome: ModelOutcome }>();
  tradeSeq = 0;
  commandSeq = 0;
  last: bigint | null = null;

  constructor(readonly instrument: Instrument) {}

  lots(v: bigint): string {
    return fromUnits(v, this.instrument.lotSize);
  }

  state(o: ModelOrder): OrderState {
    const { symbol, tickSize } = this.instrument;
    const tick = parseDecimal(tickSize)!;
    if (o.status === "REJECTED") throw new Error(`model: rejected order ${o.id} has no state`);
    return {
      orderId: o.id,
      clientId: o.client,
      symbol,
      side: o.side,
      orderType: o.type,
      price: o.price === null ? null : fromUnits(o.price, tickSize),
      status: o.status,
      quantity: this.lots(o.qty),
      filledQuantity: this.lots(o.filled),
      remainingQuantity: this.lots(o.qty - o.filled - o.cancelled),
      cancelledQuantity: this.lots(o.cancelled),
      averagePrice:
        o.filled === 0n
          ? null
          : divideRounded(o.notional * tick.digits, o.filled * 10n ** BigInt(tick.scale), tick.scale + 4),
      lastTradeId: o.lastSeq === 0 ? null : `${symbol}-${o.lastSeq}`,
      version: o.version,
      submittedAt: o.submittedAt,
    };
  }

  outcome(o: ModelOrder, trades: ModelTrade[], makers: OrderState[]): ModelOutcome {
    const order = this.state(o);
    return {
      status: o.status,
      reason: null,
      filledQuantity: order.filledQuantity,
      cancelledQuantity: order.cancelledQuantity,
      averagePrice: order.averagePrice,
      trades,
      order,
      makers,
      version: this.commandSeq,
    };
  }
}

export class ReferenceBook {
  private readonly books = new Map<string, SymbolBook>();
  /** Order ids are unique across symbols: the first symbol to use an id keeps it. */
  private readonly claims = new Map<string, string>();

  constructor(instruments: readonly Instrument[]) {
    for (const i of instruments) this.books.set(i.symbol, new SymbolBook(i));
  }

  /** Commands here are well-formed, on the grid and carry a timestamp; input validation is tested separately. */
  execute(command: EngineCommandInput): ModelOutcome {
    const book = this.books.get(command.symbol);
    if (!book) throw new Error(`model has no ${command.symbol}`);
    if (command.timestamp === undefined) throw new Error("model: commands need a timestamp");
    if (command.type === "CANCEL") {
      const fingerprint = `${command.clientId}|${command.orderId}`;
      const seen = book.cancels.get(command.commandId);
      if (seen) return seen.fingerprint === fingerprint ? seen.outcome : rejected("DUPLICATE_COMMAND_ID", null);
      book.commandSeq += 1;
      const outcome = this.cancel(book, command.orderId, command.clientId);
      book.cancels.set(command.commandId, { fingerprint, outcome });
      return outcome;
    }
    const claim = this.claims.get(command.orderId);
    if (claim !== undefined && claim !== command.symbol) return rejected("DUPLICATE_ORDER_ID", null);
    this.claims.set(command.orderId, command.symbol);
    const tif = command.type === "LIMIT" ? (command.timeInForce ?? "GTC") : "IOC";
    const postOnly = command.type === "LIMIT" && (command.postOnly ?? false);
    const price = command.type === "LIMIT" ? units(command.price, book.instrument.tickSize) : null;
    const fingerprint = JSON.stringify([
      command.clientId,
      command.side,
      command.type,
      `${price}`,
      `${units(command.quantity, book.instrument.lotSize)}`,
      tif,
      postOnly,
    ]);
    const seen = book.submits.get(command.orderId);
    if (seen) return seen.fingerprint === fingerprint ? seen.outcome : rejected("DUPLICATE_ORDER_ID", null);
    const live = book.orders.get(command.orderId)?.status;
    if (live === "NEW" || live === "PARTIALLY_FILLED") return rejected("DUPLICATE_ORDER_ID", null);
    book.commandSeq += 1;
    const outcome = this.submit(book, command, price, tif, postOnly);
    book.submits.set(command.orderId, { fingerprint, outcome });
    return outcome;
  }

  private submit(
    book: SymbolBook,
    command: Submit,
    price: bigint | null,
    tif: string,
    postOnly: boolean,
  ): ModelOutcome {
    const { instrument } = book;
    const qty = units(command.quantity, instrument.lotSize);
    const taker: ModelOrder = {
      id: command.orderId,
      client: command.clientId,
      side: command.side,
      type: command.type,
      price,
      qty,
      filled: 0n,
      cancelled: 0n,
      status: "NEW",
      notional: 0n,
      lastSeq: 0,
      version: book.commandSeq,
      submittedAt: command.timestamp!,
    };
    const refused = (reason: RejectReason) => {
      book.orders.set(taker.id, { ...taker, status: "REJECTED" });
      return rejected(reason, book.commandSeq);
    };
    if (book.last !== null && price !== null) {
      const bps = BigInt(instrument.priceBandBps);
      const lower = book.last * (bps < 10_000n ? 10_000n - bps : 0n);
      if (price * 10_000n < lower || price * 10_000n > book.last * (10_000n + bps))
        return refused("PRICE_OUTSIDE_BAND");
    }
    if (book.last !== null && price === null) {
      const notional = multiply(fromUnits(book.last, instrument.tickSize), command.quantity);
      if (compareDecimal(notional, instrument.maxNotional) > 0) return refused("NOTIONAL_TOO_LARGE");
    }
    const opposite = command.side === "BUY" ? book.asks : book.bids;
    const crosses = (p: bigint) => price === null || (command.side === "BUY" ? p <= price : p >= price);
    const top = opposite[0];
    if (postOnly && top && crosses(top.price)) return refused("POST_ONLY_WOULD_CROSS");
    if (tif === "FOK") {
      const available = opposite.filter((o) => crosses(o.price)).reduce((sum, o) => sum + o.remaining, 0n);
      if (available < qty) return refused("FOK_NOT_FILLABLE");
    }
    const trades: ModelTrade[] = [];
    const makers: OrderState[] = [];
    const fill = (o: ModelOrder, at: bigint, lots: bigint) => {
      o.filled += lots;
      o.notional += at * lots;
      o.lastSeq = book.tradeSeq;
      o.version = book.commandSeq;
    };
    while (taker.filled < qty && opposite[0] && crosses(opposite[0].price)) {
      const resting = opposite[0];
      const lots = qty - taker.filled < resting.remaining ? qty - taker.filled : resting.remaining;
      resting.remaining -= lots;
      if (resting.remaining === 0n) opposite.shift();
      book.tradeSeq += 1;
      book.last = resting.price;
      const maker = book.orders.get(resting.id)!;
      fill(maker, resting.price, lots);
      fill(taker, resting.price, lots);
      maker.status = resting.remaining === 0n ? "FILLED" : "PARTIALLY_FILLED";
      makers.push(book.state(maker));
      trades.push({
        price: fromUnits(resting.price, instrument.tickSize),
        quantity: book.lots(lots),
        makerOrderId: maker.id,
        takerOrderId: taker.id,
        sequence: book.tradeSeq,
        makerRemainingQuantity: book.lots(resting.remaining),
      });
    }
    const remaining = qty - taker.filled;
    if (remaining > 0n && price !== null && tif === "GTC") {
      taker.status = taker.filled > 0n ? "PARTIALLY_FILLED" : "NEW";
      const own = command.side === "BUY" ? book.bids : book.asks;
      const better = (o: RestingOrder) => (command.side === "BUY" ? o.price >= price : o.price <= price);
      const at = own.findIndex((o) => !better(o));
      own.splice(at === -1 ? own.length : at, 0, { id: taker.id, side: command.side, price, remaining });
    } else {
      taker.cancelled = remaining;
      taker.status = remaining === 0n ? "FILLED" : "CANCELLED";
    }
    book.orders.set(taker.id, taker);
    return book.outcome(taker, trades, makers);
  }

  private cancel(book: SymbolBook, id: string, client: string): ModelOutcome {
    const state = book.orders.get(id);
    if (!state || state.status === "REJECTED") return rejected("UNKNOWN_ORDER", book.commandSeq);
    if (state.client !== client) return rejected("NOT_ORDER_OWNER", book.commandSeq);
    if (state.status !== "NEW" && state.status !== "PARTIALLY_FILLED") {
      const owners = rejected("ORDER_NOT_OPEN", book.commandSeq);
      return { ...owners, filledQuantity: book.lots(state.filled), cancelledQuantity: book.lots(state.cancelled) };
    }
    const own = state.side === "BUY" ? book.bids : book.asks;
    const [resting] = own.splice(
      own.findIndex((o) => o.id === id),
      1,
    );
    state.cancelled += resting!.remaining;
    state.status = "CANCELLED";
    state.version = book.commandSeq;
    return book.outcome(state, [], []);
  }

  depth(symbol: string): { bids: ModelLevel[]; asks: ModelLevel[] } {
    const book = this.books.get(symbol)!;
    const levels = (orders: RestingOrder[]): ModelLevel[] => {
      const out: ModelLevel[] = [];
      for (const o of orders) {
        const price = fromUnits(o.price, book.instrument.tickSize);
        const last = out[out.length - 1];
        if (last && last.price === price) {
          last.quantity = book.lots(units(last.quantity, book.instrument.lotSize) + o.remaining);
          last.orders += 1;
        } else {
          out.push({ price, quantity: book.lots(o.remaining), orders: 1 });
        }
      }
      return out;
    };
    return { bids: levels(book.bids), asks: levels(book.asks) };
  }
}

function units(value: string, step: string): bigint {
  const r = toUnits(value, step, 10n ** 15n);
  if (!r.ok) throw new Error(`model got off-grid ${value}`);
  return r.units;
}

/** A rejection reveals nothing about any order; `version` is null when the engine refuses before its book. */
function rejected(reason: RejectReason, version: number | null): ModelOutcome {
  return {
    status: "REJECTED",
    reason,
    filledQuantity: "0",
    cancelledQuantity: "0",
    averagePrice: null,
    trades: [],
    order: null,
    makers: [],
    version,
  };
}
