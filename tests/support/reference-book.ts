// A small in-memory order book written for the tests, independent of the Redis scripts: plain arrays,
// integer ticks and lots, price-time priority by array order. The property tests run the same command
// streams through it and through the engine and require identical trades, outcomes and books.
import { fromUnits, toUnits } from "@tradeflow/common/decimal";
import type { Instrument } from "@tradeflow/common/instruments";
import type { EngineCommandInput, OrderStatus, RejectReason } from "@tradeflow/common/orderbook";

interface RestingOrder {
  id: string;
  client: string;
  side: "BUY" | "SELL";
  price: bigint;
  remaining: bigint;
}

interface OrderState {
  id: string;
  client: string;
  side: "BUY" | "SELL";
  qty: bigint;
  filled: bigint;
  cancelled: bigint;
  status: OrderStatus;
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
  trades: ModelTrade[];
}

export interface ModelLevel {
  price: string;
  quantity: string;
  orders: number;
}

class SymbolBook {
  bids: RestingOrder[] = [];
  asks: RestingOrder[] = [];
  orders = new Map<string, OrderState>();
  submits = new Map<string, { fingerprint: string; outcome: ModelOutcome }>();
  cancels = new Map<string, { fingerprint: string; outcome: ModelOutcome }>();
  tradeSeq = 0;

  constructor(readonly instrument: Instrument) {}

  lots(v: bigint): string {
    return fromUnits(v, this.instrument.lotSize);
  }
}

export class ReferenceBook {
  private readonly books = new Map<string, SymbolBook>();

  constructor(instruments: readonly Instrument[]) {
    for (const i of instruments) this.books.set(i.symbol, new SymbolBook(i));
  }

  /** Commands here are well-formed and on the grid; input validation is tested separately. */
  execute(command: EngineCommandInput): ModelOutcome {
    const book = this.books.get(command.symbol);
    if (!book) throw new Error(`model has no ${command.symbol}`);
    if (command.type === "CANCEL") {
      const fingerprint = `${command.clientId}|${command.orderId}`;
      const seen = book.cancels.get(command.commandId);
      if (seen) return seen.fingerprint === fingerprint ? seen.outcome : rejected("DUPLICATE_COMMAND_ID");
      const outcome = this.cancel(book, command.orderId, command.clientId);
      book.cancels.set(command.commandId, { fingerprint, outcome });
      return outcome;
    }
    const qty = units(command.quantity, book.instrument.lotSize);
    const price = command.type === "LIMIT" ? units(command.price, book.instrument.tickSize) : null;
    const tif = command.type === "LIMIT" ? (command.timeInForce ?? "GTC") : "IOC";
    const postOnly = command.type === "LIMIT" && (command.postOnly ?? false);
    const fingerprint = JSON.stringify([
      command.clientId,
      command.side,
      command.type,
      `${price}`,
      `${qty}`,
      tif,
      postOnly,
    ]);
    const seen = book.submits.get(command.orderId);
    if (seen) return seen.fingerprint === fingerprint ? seen.outcome : rejected("DUPLICATE_ORDER_ID");
    if (
      book.orders.get(command.orderId)?.status === "NEW" ||
      book.orders.get(command.orderId)?.status === "PARTIALLY_FILLED"
    ) {
      return rejected("DUPLICATE_ORDER_ID");
    }
    const outcome = this.submit(book, command.orderId, command.clientId, command.side, price, qty, tif, postOnly);
    book.submits.set(command.orderId, { fingerprint, outcome });
    return outcome;
  }

  private submit(
    book: SymbolBook,
    id: string,
    client: string,
    side: "BUY" | "SELL",
    price: bigint | null,
    qty: bigint,
    tif: string,
    postOnly: boolean,
  ): ModelOutcome {
    const opposite = side === "BUY" ? book.asks : book.bids;
    const crosses = (p: bigint) => price === null || (side === "BUY" ? p <= price : p >= price);
    const state: OrderState = { id, client, side, qty, filled: 0n, cancelled: 0n, status: "NEW" };
    const top = opposite[0];
    if (postOnly && top && crosses(top.price)) {
      book.orders.set(id, { ...state, status: "REJECTED" });
      return rejected("POST_ONLY_WOULD_CROSS");
    }
    if (tif === "FOK") {
      const available = opposite.filter((o) => crosses(o.price)).reduce((sum, o) => sum + o.remaining, 0n);
      if (available < qty) {
        book.orders.set(id, { ...state, status: "REJECTED" });
        return rejected("FOK_NOT_FILLABLE");
      }
    }
    const trades: ModelTrade[] = [];
    let remaining = qty;
    while (remaining > 0n && opposite[0] && crosses(opposite[0].price)) {
      const maker = opposite[0];
      // biome-ignore lint/complexity/useMathMinMax: Math.min does not take bigint
      const fill = remaining < maker.remaining ? remaining : maker.remaining;
      maker.remaining -= fill;
      remaining -= fill;
      const makerState = book.orders.get(maker.id)!;
      makerState.filled += fill;
      makerState.status = maker.remaining === 0n ? "FILLED" : "PARTIALLY_FILLED";
      if (maker.remaining === 0n) opposite.shift();
      book.tradeSeq += 1;
      trades.push({
        price: fromUnits(maker.price, book.instrument.tickSize),
        quantity: book.lots(fill),
        makerOrderId: maker.id,
        takerOrderId: id,
        sequence: book.tradeSeq,
        makerRemainingQuantity: book.lots(maker.remaining),
      });
    }
    state.filled = qty - remaining;
    if (remaining > 0n && price !== null && tif === "GTC") {
      state.status = state.filled > 0n ? "PARTIALLY_FILLED" : "NEW";
      const own = side === "BUY" ? book.bids : book.asks;
      const better = (o: RestingOrder) => (side === "BUY" ? o.price >= price : o.price <= price);
      const at = own.findIndex((o) => !better(o));
      own.splice(at === -1 ? own.length : at, 0, { id, client, side, price, remaining });
    } else {
      state.cancelled = remaining;
      state.status = remaining === 0n ? "FILLED" : "CANCELLED";
    }
    book.orders.set(id, state);
    return {
      status: state.status,
      reason: null,
      filledQuantity: book.lots(state.filled),
      cancelledQuantity: book.lots(state.cancelled),
      trades,
    };
  }

  private cancel(book: SymbolBook, id: string, client: string): ModelOutcome {
    const state = book.orders.get(id);
    if (!state || state.status === "REJECTED") return rejected("UNKNOWN_ORDER");
    if (state.client !== client) return rejected("NOT_ORDER_OWNER", state, book);
    if (state.status !== "NEW" && state.status !== "PARTIALLY_FILLED") return rejected("ORDER_NOT_OPEN", state, book);
    const own = state.side === "BUY" ? book.bids : book.asks;
    const at = own.findIndex((o) => o.id === id);
    const [resting] = own.splice(at, 1);
    state.cancelled += resting!.remaining;
    state.status = "CANCELLED";
    return {
      status: "CANCELLED",
      reason: null,
      filledQuantity: book.lots(state.filled),
      cancelledQuantity: book.lots(state.cancelled),
      trades: [],
    };
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

function rejected(reason: RejectReason, state?: OrderState, book?: SymbolBook): ModelOutcome {
  return {
    status: "REJECTED",
    reason,
    filledQuantity: state && book ? book.lots(state.filled) : "0",
    cancelledQuantity: state && book ? book.lots(state.cancelled) : "0",
    trades: [],
  };
}
