// A small in-memory order book written for the tests, independent of the Redis scripts: plain arrays,
// BigInt ticks and lots, price-time priority by array order. The property tests run the same command
// streams through it and through the engine and require identical results, order states and books.
import { compareDecimal, divideRounded, fromUnits, multiply, parseDecimal, toUnits } from "@tradeflow/common/decimal";
import type { Instrument, StpMode } from "@tradeflow/common/instruments";
import type {
  CommandResult,
  EngineCommandInput,
  OrderState,
  RejectReason,
  SelfTradePrevention,
  Side,
  Trade,
} from "@tradeflow/common/orderbook";

/** The spec's cap on the orders one mass cancel cancels (a shared budget when it covers every symbol). */
export const MAX_CANCEL_ALL = 100;

/** Everything the engine reports but the wording of a rejection's message. */
export type ModelOutcome = Omit<CommandResult, "message">;

export interface ModelLevel {
  price: string;
  quantity: string;
  orders: number;
}

type Command<T extends EngineCommandInput["type"]> = Extract<EngineCommandInput, { type: T }>;
type Submit = Command<"LIMIT" | "MARKET">;
type Prevention = Exclude<StpMode, "NONE">;

interface ModelOrder {
  readonly id: string;
  readonly client: string;
  readonly side: Side;
  readonly type: "LIMIT" | "MARKET";
  price: bigint | null;
  qty: bigint;
  filled: bigint;
  cancelled: bigint;
  status: OrderState["status"];
  /** Sum of price ticks × lots over every fill. */
  notional: bigint;
  lastSeq: number;
  version: number;
  readonly submittedAt: number;
  readonly stp: StpMode;
  readonly postOnly: boolean;
}

/** One resting order the matching walk meets: a fill, or a self-trade prevented. */
type Step =
  | { resting: ModelOrder; fill: bigint }
  | { resting: ModelOrder; mode: Prevention; mine: bigint; theirs: bigint };

type Events = Pick<ModelOutcome, "trades" | "affected" | "selfTradePreventions">;

interface Stored {
  fingerprint: string;
  outcome: ModelOutcome;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const left = (o: ModelOrder) => o.qty - o.filled - o.cancelled;
const isLive = (o: ModelOrder) => o.status === "NEW" || o.status === "PARTIALLY_FILLED";
const opposite = (side: Side): Side => (side === "BUY" ? "SELL" : "BUY");
/** A market order (no price) crosses every resting price. */
const crosses = (side: Side, price: bigint | null, resting: bigint) =>
  price === null || (side === "BUY" ? resting <= price : resting >= price);

/** [incoming, resting] cancelled when an order meets a resting order of its own client. */
const PREVENT: Record<Prevention, (left: bigint, avail: bigint) => [bigint, bigint]> = {
  CANCEL_NEWEST: (left) => [left, 0n],
  CANCEL_OLDEST: (_, avail) => [0n, avail],
  CANCEL_BOTH: (left, avail) => [left, avail],
  DECREMENT_AND_CANCEL: (left, avail) => [min(left, avail), min(left, avail)],
};

const EMPTY: Events = { trades: [], affected: [], selfTradePreventions: [] };
const fingerprint = (...parts: string[]) => JSON.stringify(parts);

function settle(o: ModelOrder): void {
  if (o.filled + o.cancelled < o.qty) o.status = o.filled > 0n ? "PARTIALLY_FILLED" : "NEW";
  else o.status = o.cancelled > 0n ? "CANCELLED" : "FILLED";
}

function blank(
  commandType: ModelOutcome["commandType"],
  orderId: string | null,
  clientId: string,
  symbol: string | null,
): ModelOutcome {
  return {
    commandType,
    orderId,
    clientId,
    symbol,
    side: null,
    status: "REJECTED",
    reason: null,
    quantity: "0",
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

/** Refused before any book: no version; it repeats only what the command itself said. */
function refusedUpfront(command: EngineCommandInput, reason: RejectReason): ModelOutcome {
  return {
    ...blank(command.type, "orderId" in command ? command.orderId : null, command.clientId, command.symbol ?? null),
    reason,
    side: "side" in command ? command.side : null,
    quantity: "quantity" in command && command.quantity !== undefined ? command.quantity : "0",
  };
}

class SymbolBook {
  bids: ModelOrder[] = [];
  asks: ModelOrder[] = [];
  /** Every accepted order, live or terminal; a refused submit leaves none. */
  readonly orders = new Map<string, ModelOrder>();
  /** Submit results by order id; cancel, amend and mass cancel results by command id (one namespace). */
  readonly submits = new Map<string, Stored>();
  readonly commands = new Map<string, Stored>();
  tradeSeq = 0;
  commandSeq = 0;
  last: bigint | null = null;

  constructor(readonly instrument: Instrument) {}

  lots(v: bigint): string {
    return fromUnits(v, this.instrument.lotSize);
  }

  ticks(v: bigint): string {
    return fromUnits(v, this.instrument.tickSize);
  }

  side(side: Side): ModelOrder[] {
    return side === "BUY" ? this.bids : this.asks;
  }

  state(o: ModelOrder): OrderState {
    const tick = parseDecimal(this.instrument.tickSize)!;
    return {
      orderId: o.id,
      clientId: o.client,
      symbol: this.instrument.symbol,
      side: o.side,
      orderType: o.type,
      price: o.price === null ? null : this.ticks(o.price),
      status: o.status,
      quantity: this.lots(o.qty),
      filledQuantity: this.lots(o.filled),
      remainingQuantity: this.lots(left(o)),
      cancelledQuantity: this.lots(o.cancelled),
      averagePrice:
        o.filled === 0n
          ? null
          : divideRounded(o.notional * tick.digits, o.filled * 10n ** BigInt(tick.scale), tick.scale + 4),
      lastTradeId: o.lastSeq === 0 ? null : `${this.instrument.symbol}-${o.lastSeq}`,
      version: o.version,
      submittedAt: o.submittedAt,
    };
  }

  /** A rejection inside the book: it takes a version and reports only the client's own order, if any. */
  refused(command: EngineCommandInput, reason: RejectReason, own?: ModelOrder): ModelOutcome {
    return {
      ...blank(command.type, "orderId" in command ? command.orderId : null, command.clientId, this.instrument.symbol),
      reason,
      side: own?.side ?? null,
      quantity: this.lots(own?.qty ?? 0n),
      filledQuantity: this.lots(own?.filled ?? 0n),
      cancelledQuantity: this.lots(own?.cancelled ?? 0n),
      version: this.commandSeq,
    };
  }

  done(command: EngineCommandInput, o: ModelOrder, events: Events = EMPTY): ModelOutcome {
    const order = this.state(o);
    return {
      ...blank(command.type, o.id, command.clientId, this.instrument.symbol),
      side: o.side,
      status: order.status,
      quantity: order.quantity,
      filledQuantity: order.filledQuantity,
      remainingQuantity: order.remainingQuantity,
      cancelledQuantity: order.cancelledQuantity,
      averagePrice: order.averagePrice,
      order,
      ...events,
      version: this.commandSeq,
    };
  }

  outsideBand(price: bigint): boolean {
    if (this.last === null) return false;
    const bps = BigInt(this.instrument.priceBandBps);
    const lower = this.last * (bps < 10_000n ? 10_000n - bps : 0n);
    return price * 10_000n < lower || price * 10_000n > this.last * (10_000n + bps);
  }

  /** The walk over the other side, best first, while prices cross and `o` has lots left; changes nothing. */
  walk(o: ModelOrder, lots: bigint): Step[] {
    const steps: Step[] = [];
    let wanted = lots;
    for (const resting of this.side(opposite(o.side))) {
      if (wanted === 0n || !crosses(o.side, o.price, resting.price!)) break;
      if (o.stp !== "NONE" && resting.client === o.client) {
        const [mine, theirs] = PREVENT[o.stp](wanted, left(resting));
        steps.push({ resting, mode: o.stp, mine, theirs });
        wanted -= mine;
      } else {
        const fill = min(wanted, left(resting));
        steps.push({ resting, fill });
        wanted -= fill;
      }
    }
    return steps;
  }

  /** Applies a walk's steps; resting orders it leaves terminal go off the book. */
  match(o: ModelOrder, steps: readonly Step[], timestamp: number): Events {
    const trades: Trade[] = [];
    const preventions: SelfTradePrevention[] = [];
    const touched: ModelOrder[] = [];
    for (const step of steps) {
      const { resting } = step;
      if ("fill" in step) {
        this.tradeSeq += 1;
        this.last = resting.price;
        for (const x of [resting, o]) {
          x.filled += step.fill;
          x.notional += resting.price! * step.fill;
          x.lastSeq = this.tradeSeq;
        }
        trades.push({
          tradeId: `${this.instrument.symbol}-${this.tradeSeq}`,
          symbol: this.instrument.symbol,
          price: this.ticks(resting.price!),
          quantity: this.lots(step.fill),
          makerOrderId: resting.id,
          makerClientId: resting.client,
          takerOrderId: o.id,
          takerClientId: o.client,
          aggressorSide: o.side,
          sequence: this.tradeSeq,
          timestamp,
          makerRemainingQuantity: this.lots(left(resting)),
        });
      } else {
        o.cancelled += step.mine;
        resting.cancelled += step.theirs;
        preventions.push({
          restingOrderId: resting.id,
          mode: step.mode,
          incomingCancelledQuantity: this.lots(step.mine),
          restingCancelledQuantity: this.lots(step.theirs),
        });
      }
      if ("fill" in step || step.theirs > 0n) {
        resting.version = this.commandSeq;
        settle(resting);
        touched.push(resting);
      }
    }
    this.prune();
    return { trades, selfTradePreventions: preventions, affected: touched.map((r) => this.state(r)) };
  }

  /** Joins the back of its price level. */
  rest(o: ModelOrder): void {
    const own = this.side(o.side);
    const worse = own.findIndex((r) => (o.side === "BUY" ? r.price! < o.price! : r.price! > o.price!));
    own.splice(worse === -1 ? own.length : worse, 0, o);
  }

  prune(): void {
    this.bids = this.bids.filter(isLive);
    this.asks = this.asks.filter(isLive);
  }

  submit(command: Submit, price: bigint | null, stp: StpMode): ModelOutcome {
    this.commandSeq += 1;
    const tif = command.type === "LIMIT" ? (command.timeInForce ?? "GTC") : "IOC";
    const o: ModelOrder = {
      id: command.orderId,
      client: command.clientId,
      side: command.side,
      type: command.type,
      price,
      qty: units(command.quantity, this.instrument.lotSize),
      filled: 0n,
      cancelled: 0n,
      status: "NEW",
      notional: 0n,
      lastSeq: 0,
      version: this.commandSeq,
      submittedAt: command.timestamp!,
      stp,
      postOnly: command.type === "LIMIT" && (command.postOnly ?? false),
    };
    // A refused order was never accepted: it reports its side and size but has no state.
    const refuse = (reason: RejectReason) => this.refused(command, reason, o);
    const top = this.side(opposite(o.side))[0];
    if (price !== null) {
      if (this.outsideBand(price)) return refuse("PRICE_OUTSIDE_BAND");
      if (o.postOnly && top && crosses(o.side, price, top.price!)) return refuse("POST_ONLY_WOULD_CROSS");
    } else if (this.last !== null) {
      const notional = multiply(this.ticks(this.last), command.quantity);
      if (compareDecimal(notional, this.instrument.maxNotional) > 0) return refuse("NOTIONAL_TOO_LARGE");
    }
    const steps = this.walk(o, o.qty);
    const fills = steps.reduce((sum, s) => sum + ("fill" in s ? s.fill : 0n), 0n);
    if (tif === "FOK" && fills < o.qty) return refuse("FOK_NOT_FILLABLE");
    const events = this.match(o, steps, command.timestamp!);
    if (left(o) > 0n && price !== null && tif === "GTC") this.rest(o);
    else o.cancelled = o.qty - o.filled;
    settle(o);
    this.orders.set(o.id, o);
    return this.done(command, o, events);
  }

  /** The target of a cancel or amend, or why the command may not touch it. */
  target(command: Command<"CANCEL" | "AMEND">): ModelOrder | ModelOutcome {
    const o = this.orders.get(command.orderId);
    if (!o) return this.refused(command, "UNKNOWN_ORDER");
    if (o.client !== command.clientId) return this.refused(command, "NOT_ORDER_OWNER");
    if (!isLive(o)) return this.refused(command, "ORDER_NOT_OPEN", o);
    return o;
  }

  unrest(o: ModelOrder): void {
    const own = this.side(o.side);
    own.splice(own.indexOf(o), 1);
  }

  cancel(command: Command<"CANCEL">): ModelOutcome {
    this.commandSeq += 1;
    const o = this.target(command);
    if (!("id" in o)) return o;
    this.unrest(o);
    o.cancelled = o.qty - o.filled;
    o.version = this.commandSeq;
    settle(o);
    return this.done(command, o);
  }

  amend(command: Command<"AMEND">): ModelOutcome {
    this.commandSeq += 1;
    const o = this.target(command);
    if (!("id" in o)) return o;
    const price = command.price === undefined ? o.price! : units(command.price, this.instrument.tickSize);
    const qty = command.quantity === undefined ? o.qty : units(command.quantity, this.instrument.lotSize);
    if (qty <= o.filled + o.cancelled) return this.refused(command, "AMEND_QUANTITY_TOO_LOW", o);
    if (compareDecimal(multiply(this.ticks(price), this.lots(qty)), this.instrument.maxNotional) > 0)
      return this.refused(command, "NOTIONAL_TOO_LARGE", o);
    if (price !== o.price && this.outsideBand(price)) return this.refused(command, "PRICE_OUTSIDE_BAND", o);
    const top = this.side(opposite(o.side))[0];
    if (o.postOnly && top && crosses(o.side, price, top.price!))
      return this.refused(command, "POST_ONLY_WOULD_CROSS", o);
    o.version = this.commandSeq;
    if (price === o.price && qty <= o.qty) {
      o.qty = qty;
      return this.done(command, o);
    }
    // Anything else loses time priority: the order enters again as a new arrival, and may trade.
    this.unrest(o);
    o.price = price;
    o.qty = qty;
    const events = this.match(o, this.walk(o, left(o)), command.timestamp!);
    if (left(o) > 0n) this.rest(o);
    settle(o);
    return this.done(command, o, events);
  }

  /** Cancels up to `max` of the client's live orders, by order id. */
  cancelAll(client: string, max: number): ModelOutcome {
    this.commandSeq += 1;
    const mine = [...this.bids, ...this.asks].filter((o) => o.client === client).sort((a, b) => (a.id < b.id ? -1 : 1));
    const cancelled = mine.slice(0, max);
    for (const o of cancelled) {
      o.cancelled = o.qty - o.filled;
      o.version = this.commandSeq;
      settle(o);
    }
    this.prune();
    return {
      ...blank("CANCEL_ALL", null, client, this.instrument.symbol),
      status: "CANCELLED",
      affected: cancelled.map((o) => this.state(o)),
      openOrdersLeft: mine.length - cancelled.length,
      version: this.commandSeq,
    };
  }

  /** Runs a command kept by its command id: a replay returns the stored result, other content is refused. */
  once(command: Command<"CANCEL" | "AMEND" | "CANCEL_ALL">, fingerprint: string, run: () => ModelOutcome) {
    const seen = this.commands.get(command.commandId);
    if (seen) {
      if (seen.fingerprint === fingerprint) return { ...seen.outcome, replayed: true };
      return refusedUpfront(command, "DUPLICATE_COMMAND_ID");
    }
    const outcome = run();
    this.commands.set(command.commandId, { fingerprint, outcome });
    return outcome;
  }
}

export class ReferenceBook {
  private readonly books = new Map<string, SymbolBook>();
  /** Order ids are unique across symbols: the first symbol to use an id keeps it. */
  private readonly claims = new Map<string, string>();

  /** `instruments` in the engine registry's order: a mass cancel over every symbol goes through them in it. */
  constructor(instruments: readonly Instrument[]) {
    for (const i of instruments) this.books.set(i.symbol, new SymbolBook(i));
  }

  /** Commands here are well-formed, on the grid and carry a timestamp; input validation is tested separately. */
  execute(command: EngineCommandInput): ModelOutcome {
    if (command.timestamp === undefined) throw new Error("model: commands need a timestamp");
    if (command.type === "CANCEL_ALL" && command.symbol === undefined) return this.cancelEverywhere(command);
    const book = this.books.get(command.symbol ?? "");
    if (!book) throw new Error(`model has no ${command.symbol}`);
    const ticksOf = (p: string | undefined) => (p === undefined ? "" : `${units(p, book.instrument.tickSize)}`);
    const lotsOf = (q: string | undefined) => (q === undefined ? "" : `${units(q, book.instrument.lotSize)}`);
    switch (command.type) {
      case "CANCEL":
        return book.once(command, fingerprint("CANCEL", command.clientId, command.orderId), () => book.cancel(command));
      case "AMEND": {
        const print = fingerprint(
          "AMEND",
          command.clientId,
          command.orderId,
          ticksOf(command.price),
          lotsOf(command.quantity),
        );
        return book.once(command, print, () => book.amend(command));
      }
      case "CANCEL_ALL":
        return book.once(command, fingerprint("CANCEL_ALL", command.clientId, book.instrument.symbol), () =>
          book.cancelAll(command.clientId, MAX_CANCEL_ALL),
        );
    }
    if (command.type === "LIMIT" && command.postOnly && (command.timeInForce ?? "GTC") !== "GTC") {
      return refusedUpfront(command, "POST_ONLY_REQUIRES_GTC");
    }
    const claim = this.claims.get(command.orderId);
    if (claim !== undefined && claim !== command.symbol) return refusedUpfront(command, "DUPLICATE_ORDER_ID");
    this.claims.set(command.orderId, command.symbol);
    const stp = command.selfTradePrevention ?? book.instrument.selfTradePrevention;
    const limit = command.type === "LIMIT" ? command : undefined;
    const print = fingerprint(
      command.clientId,
      command.side,
      command.type,
      ticksOf(limit?.price),
      lotsOf(command.quantity),
      limit?.timeInForce ?? "GTC",
      `${limit?.postOnly ?? false}`,
      stp,
    );
    const seen = book.submits.get(command.orderId);
    if (seen) {
      if (seen.fingerprint === print) return { ...seen.outcome, replayed: true };
      return refusedUpfront(command, "DUPLICATE_ORDER_ID");
    }
    const outcome = book.submit(command, limit ? units(limit.price, book.instrument.tickSize) : null, stp);
    book.submits.set(command.orderId, { fingerprint: print, outcome });
    return outcome;
  }

  /**
   * A mass cancel over every symbol: its command id is taken on every symbol at once, each symbol keeps its own
   * part, and the symbols share one budget of MAX_CANCEL_ALL in registry order.
   */
  private cancelEverywhere(command: Command<"CANCEL_ALL">): ModelOutcome {
    const books = [...this.books.values()];
    const print = fingerprint("CANCEL_ALL", command.clientId, "*");
    const seen = books.map((b) => b.commands.get(command.commandId));
    if (seen.some((s) => s !== undefined && s.fingerprint !== print))
      return refusedUpfront(command, "DUPLICATE_COMMAND_ID");
    // Every symbol keeps its part or none does: a replay finds them all.
    const kept = seen.flatMap((s) => (s ? [s.outcome] : []));
    let budget = MAX_CANCEL_ALL;
    const parts = kept.length
      ? kept
      : books.map((book) => {
          const outcome = book.cancelAll(command.clientId, budget);
          budget -= outcome.affected.length;
          book.commands.set(command.commandId, { fingerprint: print, outcome });
          return outcome;
        });
    return {
      ...blank("CANCEL_ALL", null, command.clientId, null),
      status: "CANCELLED",
      affected: parts.flatMap((p) => p.affected),
      openOrdersLeft: parts.reduce((sum, p) => sum + (p.openOrdersLeft ?? 0), 0),
      replayed: kept.length > 0,
    };
  }

  depth(symbol: string): { bids: ModelLevel[]; asks: ModelLevel[] } {
    const book = this.books.get(symbol)!;
    const levels = (orders: ModelOrder[]): ModelLevel[] => {
      const out: ModelLevel[] = [];
      let lots = 0n;
      for (const o of orders) {
        const price = book.ticks(o.price!);
        const last = out[out.length - 1];
        if (last?.price === price) {
          lots += left(o);
          last.quantity = book.lots(lots);
          last.orders += 1;
        } else {
          lots = left(o);
          out.push({ price, quantity: book.lots(lots), orders: 1 });
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
