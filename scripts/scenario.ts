// A deterministic, seeded event stream for the local pipeline demo, the end-to-end tests and the benchmark:
// orders around a random-walk mid per symbol (so that they rest, cross and partially fill), cancels of earlier
// orders, trade reports from the three venues, a few events the validator must reject (each with the reason code
// it gives) and venue prints that cross the alert thresholds a known number of times.
//
// Prices and quantities are integer ticks and lots turned into decimal strings: no floating point touches them.
// Ids are `<prefix>-<seed>-<n>`, so sending a scenario twice is a replay, never new business.
import {
  type AlertThresholds,
  crossing,
  DEFAULT_THRESHOLDS,
  thresholdsFor,
  type Zone,
  zoneOf,
} from "../layers/common/src/alerts/crossing";
import {
  type AlphaTrade,
  type BetaTrade,
  DETAIL_TYPES,
  type GammaTrade,
  ORDER_SOURCE,
  type OrderCancelRequestedDetail,
  type OrderSubmittedDetail,
  OrderSubmittedDetailSchema,
  parseTradeDetail,
  type ReasonCode,
  VENUES,
  type Venue,
  venueSource,
} from "../layers/common/src/contracts";
import { compareDecimal, formatScaled, fromUnits, multiply, parseDecimal, toUnits } from "../layers/common/src/decimal";
import { type Instrument, SAMPLE_INSTRUMENTS } from "../layers/common/src/instruments";
import type { RejectReason } from "../layers/common/src/orderbook";

export type ScenarioKind = "ORDER" | "CANCEL" | "VENUE_TRADE" | "INVALID";

/**
 * A PutEvents entry, for the SDK (`PutEventsCommand({ Entries })`) and, once JSON-serialized, for
 * `aws events put-events --entries`. `Time` becomes the envelope time (whole seconds), hence the matcher's trade
 * timestamps: the scenario keeps its own timeline, so that trade-time order (which the alerter follows) is the
 * stream's order and a replay is identical down to the timestamps.
 */
export interface ScenarioEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName: string;
  readonly Time: Date;
}

export interface ScenarioEvent {
  readonly entry: ScenarioEntry;
  readonly kind: ScenarioKind;
  /** For INVALID events: the one reason code the validator rejects it with. */
  readonly expectedRejection?: ReasonCode;
}

export interface ScenarioOptions {
  readonly seed: number;
  /** Valid order submissions; cancels, venue trades and invalid events are counted relative to these. */
  readonly orders: number;
  readonly busName: string;
  /** Default: every sample instrument (template.yaml's `instruments` default). */
  readonly symbols?: readonly string[];
  /** Number of clients, C-1 .. C-n. Default 5. */
  readonly clients?: number;
  /** Cancels per order. Default 0.15. */
  readonly cancelRate?: number;
  /** Invalid events per order. Default 0.02. */
  readonly invalidRate?: number;
  /** Venue trade reports per order, besides one opening print per symbol and the excursions. Default 0.1. */
  readonly venueTradeRate?: number;
  /** Venue prints above the high alert threshold, each followed by a print back in range. Default 3. */
  readonly alertExcursions?: number;
  /** The alerter's configuration. Default: template.yaml's `alert-thresholds` default (high 150, low 50). */
  readonly thresholds?: AlertThresholds;
  /** Time of the first event, epoch ms. Default 2025-06-02T14:30:00.000Z (a Monday, AAPL's regular session). */
  readonly startTime?: number;
  /** Time between consecutive events. Default 250 ms. */
  readonly stepMs?: number;
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = { default: DEFAULT_THRESHOLDS, symbols: {} };

export const SCENARIO_DEFAULTS = {
  clients: 5,
  cancelRate: 0.15,
  invalidRate: 0.02,
  venueTradeRate: 0.1,
  alertExcursions: 3,
  startTime: Date.UTC(2025, 5, 2, 14, 30),
  stepMs: 250,
} as const;

/**
 * How each symbol trades. Prices stay within open ± (walk + depth) grains, which keeps every order and trade of
 * a symbol in one alert zone and inside the price band around any price the engine can trade at (the engine
 * trades only at limit prices, all in that range). A grain is a multiple of the tick.
 */
interface Profile {
  readonly open: string;
  readonly grain: string;
  /** How far the mid may wander from the open, in grains. */
  readonly walk: number;
  /** How far from the mid orders are priced, in grains. */
  readonly depth: number;
  readonly maxLots: number;
}

const PROFILES: Readonly<Record<string, Profile>> = {
  "BTC-USD": { open: "65000", grain: "0.5", walk: 2000, depth: 24, maxLots: 5000 },
  "ETH-USD": { open: "3500", grain: "0.05", walk: 1000, depth: 24, maxLots: 4000 },
  AAPL: { open: "147", grain: "0.01", walk: 100, depth: 40, maxLots: 400 },
};

/** mulberry32: small, fast and plenty for choices. Only choices and counts come from it, never a price. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  /** 0 .. n-1 */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** lo .. hi, both included */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

interface Market {
  readonly instrument: Instrument;
  readonly profile: Profile;
  readonly grain: bigint;
  readonly open: bigint;
  /** The current mid, in ticks. */
  mid: bigint;
  /** Lowest and highest price any order or trade of this symbol can have, in ticks. */
  readonly lo: bigint;
  readonly hi: bigint;
}

function ticks(value: string, step: string): bigint {
  const r = toUnits(value, step, 10n ** 30n);
  if (!r.ok) throw new Error(`${value} is not on the grid ${step}`);
  return r.units;
}

/** floor(value / step) for a decimal value that need not lie on the grid. */
function floorUnits(value: string, step: string): bigint {
  const v = parseDecimal(value)!;
  const s = parseDecimal(step)!;
  return (v.digits * 10n ** BigInt(s.scale)) / (s.digits * 10n ** BigInt(v.scale));
}

function market(symbol: string): Market {
  const instrument = SAMPLE_INSTRUMENTS.find((i) => i.symbol === symbol);
  const profile = PROFILES[symbol];
  if (!instrument || !profile) throw new RangeError(`no scenario profile for symbol ${symbol}`);
  const grain = ticks(profile.grain, instrument.tickSize);
  const open = ticks(profile.open, instrument.tickSize);
  const reach = BigInt(profile.walk + profile.depth) * grain;
  if (open - reach <= 0n) throw new RangeError(`${symbol}: the profile reaches non-positive prices`);
  return { instrument, profile, grain, open, mid: open, lo: open - reach, hi: open + reach };
}

const SPIKE_TICKS = 50;
const BPS = 10_000n;

/**
 * A symbol can carry excursions if its whole range sits between the thresholds and a print up to SPIKE_TICKS
 * above the high threshold is inside the price band around any price of the range: the recorder holds a venue
 * print to the band around the engine's last trade price, always a limit price of the range.
 */
function spikeBase(m: Market, thresholds: AlertThresholds): bigint | null {
  const t = thresholdsFor(thresholds, m.instrument.symbol);
  const price = (u: bigint) => fromUnits(u, m.instrument.tickSize);
  if (zoneOf(price(m.lo), t) !== "BETWEEN" || zoneOf(price(m.hi), t) !== "BETWEEN") return null;
  const base = floorUnits(t.high, m.instrument.tickSize);
  const top = base + BigInt(SPIKE_TICKS);
  const bps = BigInt(m.instrument.priceBandBps);
  return top * BPS <= m.lo * (BPS + bps) ? base : null;
}

/**
 * The engine refuses a limit price outside the band around its last trade price (a price of the range) and a
 * market order whose notional at that price exceeds maxNotional: the profile must give it neither to refuse.
 */
function assertEngineAccepts(m: Market): void {
  const { symbol, priceBandBps, tickSize, lotSize, maxNotional } = m.instrument;
  const bps = BigInt(priceBandBps);
  if (m.hi * BPS > m.lo * (BPS + bps) || m.lo * BPS < m.hi * (BPS - bps)) {
    throw new RangeError(`${symbol}: the profile's range is wider than the price band`);
  }
  const largest = multiply(fromUnits(m.hi, tickSize), fromUnits(BigInt(m.profile.maxLots), lotSize));
  if (compareDecimal(largest, maxNotional) > 0) {
    throw new RangeError(`${symbol}: the profile's largest market order is above maxNotional`);
  }
}

type Detail = Record<string, unknown>;

interface Draft {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Detail;
}

interface Resting {
  readonly clientId: string;
  readonly orderId: string;
  readonly symbol: string;
}

type Side = "BUY" | "SELL";

const UNLISTED_SYMBOLS = ["DOGE-USD", "TSLA", "SOL-USD"] as const;

/** The invalid events take turns through these; each breaks one rule, so the validator gives exactly that code. */
export const SCENARIO_DEFECTS: readonly ReasonCode[] = [
  "PRICE_OFF_TICK",
  "QUANTITY_OFF_LOT",
  "INVALID_NUMBER",
  "UNKNOWN_SYMBOL",
  "UNKNOWN_FIELD",
  "MISSING_FIELD",
  "INVALID_FIELD",
  "INVALID_ID",
  "NOTIONAL_TOO_LARGE",
  "CURRENCY_MISMATCH",
  "INCONSISTENT_AMOUNT",
  "INVALID_TIMESTAMP",
];

/** The entry whose cumulative weight first exceeds `roll` (0 <= roll < total weight). */
function pickWeighted<T>(weights: readonly (readonly [T, number])[], roll: number): T {
  let rest = roll;
  for (const [item, weight] of weights) {
    if (rest < weight) return item;
    rest -= weight;
  }
  throw new RangeError(`roll ${roll} is not below the total weight`);
}

/** Venue gamma reports local time with an offset: New York in summer, UTC-4 (the instant is exact on any date). */
function newYorkTime(ms: number): string {
  return `${new Date(ms - 4 * 3_600_000).toISOString().slice(0, 23)}-04:00`;
}

/** `units` whole steps plus half a step: certainly off the grid. */
function halfStepOff(units: bigint, step: string): string {
  const s = parseDecimal(step)!;
  return formatScaled(s.digits * (10n * units + 5n), s.scale + 1);
}

class ScenarioBuilder {
  readonly events: ScenarioEvent[] = [];
  private readonly rng: Rng;
  private readonly markets: Market[];
  private readonly clients: string[];
  private readonly resting: Resting[] = [];
  private readonly venueSeq: Record<Venue, number> = { alpha: 0, beta: 0, gamma: 0 };
  private orderSeq = 0;
  private cancelSeq = 0;
  private venueTurn = 0;

  constructor(private readonly o: ResolvedOptions) {
    this.rng = new Rng(o.seed);
    this.markets = o.symbols.map(market);
    this.markets.forEach(assertEngineAccepts);
    this.clients = Array.from({ length: o.clients }, (_, i) => `C-${i + 1}`);
  }

  build(): ScenarioEvent[] {
    const { orders, cancelRate, invalidRate, venueTradeRate, alertExcursions, thresholds } = this.o;
    const left: Record<ScenarioKind, number> = {
      ORDER: orders,
      CANCEL: Math.round(orders * cancelRate),
      VENUE_TRADE: Math.round(orders * venueTradeRate),
      INVALID: Math.round(orders * invalidRate),
    };
    const spiky = this.markets.flatMap((m) => {
      const base = spikeBase(m, thresholds);
      return base === null ? [] : [{ m, base }];
    });
    const excursions = spiky.length > 0 ? alertExcursions : 0;
    let placed = 0;
    let invalid = 0;

    // Opening prints: every symbol has a venue print from the start, so its alert zone is known whatever the draw.
    for (const m of this.markets) this.venueTrade(m, m.mid);
    for (;;) {
      // Excursions spread evenly over the order flow: a print above the high threshold, then one back at the mid.
      while (placed < excursions && orders - left.ORDER >= Math.floor((orders * (placed + 1)) / (excursions + 1))) {
        const { m, base } = spiky[placed % spiky.length]!;
        this.venueTrade(m, base + BigInt(this.rng.between(1, SPIKE_TICKS)));
        this.venueTrade(m, m.mid);
        placed++;
      }
      // Draw without replacement, so that the counts are exact; a cancel needs an earlier GTC order.
      const weights: [ScenarioKind, number][] = [
        ["ORDER", left.ORDER],
        ["CANCEL", this.resting.length > 0 ? left.CANCEL : 0],
        ["VENUE_TRADE", left.VENUE_TRADE],
        ["INVALID", left.INVALID],
      ];
      const total = weights.reduce((sum, [, w]) => sum + w, 0);
      if (total === 0) break;
      const kind = pickWeighted(weights, this.rng.int(total));
      left[kind]--;
      if (kind === "ORDER") this.order();
      else if (kind === "CANCEL") this.cancel();
      else if (kind === "VENUE_TRADE") this.venueTrade(this.rng.pick(this.markets));
      else this.invalid(SCENARIO_DEFECTS[invalid++ % SCENARIO_DEFECTS.length]!);
    }
    return this.events;
  }

  private get now(): number {
    return this.o.startTime + this.events.length * this.o.stepMs;
  }

  private emit(kind: ScenarioKind, draft: Draft, expectedRejection?: ReasonCode): void {
    const entry: ScenarioEntry = {
      Source: draft.source,
      DetailType: draft.detailType,
      Detail: JSON.stringify(draft.detail),
      EventBusName: this.o.busName,
      Time: new Date(this.now),
    };
    this.events.push(expectedRejection ? { entry, kind, expectedRejection } : { entry, kind });
  }

  private side(): Side {
    return this.rng.int(2) === 0 ? "BUY" : "SELL";
  }

  /** Mostly small, now and then large: 1 .. maxLots, skewed towards the small end. */
  private lots(m: Market): bigint {
    return BigInt(1 + this.rng.int(1 + this.rng.int(m.profile.maxLots)));
  }

  /** The mid takes a step of up to 3 grains; a step that would leave its walk is not taken. */
  private walk(m: Market): void {
    const limit = BigInt(m.profile.walk) * m.grain;
    const next = m.mid + BigInt(this.rng.between(-3, 3)) * m.grain;
    if (next <= m.open + limit && next >= m.open - limit) m.mid = next;
  }

  /** `offset` grains away from the mid on the order's own side; a negative offset crosses the mid. */
  private limitPrice(m: Market, side: Side, offset: number): string {
    const away = BigInt(offset) * m.grain;
    return fromUnits(side === "BUY" ? m.mid - away : m.mid + away, m.instrument.tickSize);
  }

  private nextOrderId(): string {
    return `O-${this.o.seed}-${++this.orderSeq}`;
  }

  /** 6 % market, 12 % IOC, 6 % FOK, 10 % post-only GTC, 66 % plain GTC; four in five carry an idempotency key. */
  private order(): void {
    const m = this.rng.pick(this.markets);
    this.walk(m);
    const { symbol, lotSize } = m.instrument;
    const side = this.side();
    const base = { clientId: this.rng.pick(this.clients), orderId: this.nextOrderId(), symbol, side };
    const quantity = fromUnits(this.lots(m), lotSize);
    const roll = this.rng.int(100);
    let detail: OrderSubmittedDetail;
    if (roll < 6) {
      detail = { ...base, type: "MARKET", quantity };
    } else {
      const timeInForce = roll < 18 ? "IOC" : roll < 24 ? "FOK" : "GTC";
      const postOnly = roll >= 24 && roll < 34;
      const { depth } = m.profile;
      const crossing = Math.floor(depth / 4);
      const offset = postOnly
        ? this.rng.between(1, depth)
        : timeInForce === "GTC"
          ? this.rng.between(-crossing, depth)
          : this.rng.between(-crossing, 2);
      const price = this.limitPrice(m, side, offset);
      detail = { ...base, type: "LIMIT", price, quantity, timeInForce, postOnly };
      if (timeInForce === "GTC") this.resting.push({ clientId: base.clientId, orderId: base.orderId, symbol });
    }
    if (this.rng.int(5) > 0) detail.idempotencyKey = `${base.orderId}-submit`;
    this.emit("ORDER", { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderSubmitted, detail });
  }

  /**
   * A cancel of one of the last 50 GTC orders, which may have filled meanwhile (the engine then says
   * ORDER_NOT_OPEN). Its idempotencyKey becomes the engine's commandId, so a resent cancel is a replay.
   */
  private cancel(): void {
    const window = Math.min(50, this.resting.length);
    const [target] = this.resting.splice(this.resting.length - 1 - this.rng.int(window), 1);
    const detail: OrderCancelRequestedDetail = { ...target!, idempotencyKey: this.nextCancelKey() };
    this.emit("CANCEL", { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderCancelRequested, detail });
  }

  private nextCancelKey(): string {
    return `X-${this.o.seed}-${++this.cancelSeq}`;
  }

  /** A venue's trade report, near the mid unless a price is given; the venues take turns. */
  private venueTrade(m: Market, at?: bigint): void {
    const venue = VENUES[this.venueTurn++ % VENUES.length]!;
    const half = Math.floor(m.profile.depth / 2);
    const price = at ?? m.mid + BigInt(this.rng.between(-half, half)) * m.grain;
    this.emit("VENUE_TRADE", this.tradeDraft(venue, m, price, this.lots(m)));
  }

  /** In the venue's own shape; executed up to one step before it is reported, so trade times keep stream order. */
  private tradeDraft(venue: Venue, m: Market, priceUnits: bigint, lots: bigint): Draft {
    const n = ++this.venueSeq[venue];
    const tradeId = `${venue.charAt(0).toUpperCase()}-${this.o.seed}-${n}`;
    const executedAt = this.now - this.rng.int(this.o.stepMs);
    const { symbol, quoteCurrency: currency, tickSize, lotSize } = m.instrument;
    const price = fromUnits(priceUnits, tickSize);
    const quantity = fromUnits(lots, lotSize);
    const side = this.side();
    let detail: AlphaTrade | BetaTrade | GammaTrade;
    if (venue === "alpha") {
      detail = { tradeId, symbol, side, price, quantity, currency, executedAt, sequence: n };
    } else if (venue === "beta") {
      const tick = parseDecimal(tickSize)!;
      const lot = parseDecimal(lotSize)!;
      detail = {
        trade_id: tradeId,
        instrument_id: symbol,
        aggressor: side === "BUY" ? "B" : "S",
        price_minor: Number(priceUnits * tick.digits),
        price_scale: tick.scale,
        quantity_minor: Number(lots * lot.digits),
        quantity_scale: lot.scale,
        currency_code: currency,
        executed_at: new Date(executedAt).toISOString(),
        seq_no: n,
      };
    } else {
      const amount = multiply(price, quantity);
      detail = {
        tradeId,
        sourceSystem: "gamma",
        symbol,
        quantity,
        amount,
        currency,
        tradeTime: newYorkTime(executedAt),
      };
    }
    return { source: venueSource(venue), detailType: DETAIL_TYPES.tradeReported, detail };
  }

  private invalid(wanted: ReasonCode): void {
    const [draft, reason] = this.defect(wanted, this.rng.pick(this.markets));
    this.emit("INVALID", draft, reason);
  }

  /** An otherwise valid GTC limit order near the mid, with one thing changed (undefined removes a field). */
  private badOrder(m: Market, change: (detail: Detail) => Detail): Draft {
    const side = this.side();
    const detail: Detail = {
      clientId: this.rng.pick(this.clients),
      orderId: this.nextOrderId(),
      symbol: m.instrument.symbol,
      side,
      type: "LIMIT",
      price: this.limitPrice(m, side, this.rng.between(0, m.profile.depth)),
      quantity: fromUnits(this.lots(m), m.instrument.lotSize),
      timeInForce: "GTC",
      postOnly: false,
    };
    return { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderSubmitted, detail: changed(detail, change(detail)) };
  }

  /** An otherwise valid trade report at the mid, with one thing changed. */
  private badTrade(venue: Venue, m: Market, lots: bigint, change: (detail: Detail) => Detail): Draft {
    const draft = this.tradeDraft(venue, m, m.mid, lots);
    return { ...draft, detail: changed(draft.detail, change(draft.detail)) };
  }

  /** The draft and the reason it must be rejected with (NOTIONAL_TOO_LARGE falls back where it cannot be). */
  private defect(reason: ReasonCode, m: Market): [Draft, ReasonCode] {
    const { tickSize, lotSize, maxNotional, maxQuantity } = m.instrument;
    const offGrid = (value: unknown, step: string) => halfStepOff(ticks(String(value), step), step);
    const lots = this.lots(m);
    switch (reason) {
      case "PRICE_OFF_TICK": // 147.125 on a 0.01 grid
        return [this.badOrder(m, (d) => ({ price: offGrid(d.price, tickSize) })), reason];
      case "QUANTITY_OFF_LOT": // 12.5 shares
        return [this.badOrder(m, (d) => ({ quantity: offGrid(d.quantity, lotSize) })), reason];
      case "INVALID_NUMBER": {
        // an exponent, a sign, a stray space, or a JSON number (binary floating point) instead of a string
        const spellings: ((p: string) => unknown)[] = [(p) => `${p}e0`, (p) => `+${p}`, (p) => ` ${p}`, JSON.parse];
        const spell = this.rng.pick(spellings);
        return [this.badOrder(m, (d) => ({ price: spell(String(d.price)) })), reason];
      }
      case "UNKNOWN_SYMBOL":
        return [this.badOrder(m, () => ({ symbol: this.rng.pick(UNLISTED_SYMBOLS) })), reason];
      case "UNKNOWN_FIELD": {
        // a typo, or a price on a market order
        const typo = this.rng.int(2) === 0;
        const change = typo ? { postOnly: undefined, postonly: true } : { type: "MARKET", timeInForce: "IOC" };
        return [this.badOrder(m, () => change), reason];
      }
      case "MISSING_FIELD": {
        if (this.orderSeq === 0 || this.rng.int(2) === 0) {
          return [this.badOrder(m, () => ({ quantity: undefined })), reason];
        }
        // a cancel without its clientId, for an earlier order
        const orderId = `O-${this.o.seed}-${1 + this.rng.int(this.orderSeq)}`;
        const detail = { orderId, symbol: m.instrument.symbol, idempotencyKey: this.nextCancelKey() };
        return [{ source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderCancelRequested, detail }, reason];
      }
      case "INVALID_FIELD": {
        // a time in force or a side this contract does not have
        const change = this.rng.int(2) === 0 ? { timeInForce: "DAY" } : { side: "SHORT" };
        return [this.badOrder(m, () => change), reason];
      }
      case "INVALID_ID": {
        // a trailing space, or a character outside the id alphabet
        const suffix = this.rng.pick([" ", "#1", "/1"]);
        return [this.badOrder(m, (d) => ({ orderId: `${d.orderId}${suffix}` })), reason];
      }
      case "NOTIONAL_TOO_LARGE": {
        // a fat finger: the fewest lots whose notional exceeds maxNotional, if that is within maxQuantity
        const lot = parseDecimal(lotSize)!;
        const cap = parseDecimal(maxNotional)!;
        const draft = this.badOrder(m, (d) => {
          const price = parseDecimal(String(d.price))!;
          const over = cap.digits * 10n ** BigInt(price.scale + lot.scale);
          const per = 10n ** BigInt(cap.scale) * price.digits * lot.digits;
          return { quantity: fromUnits(over / per + 1n, lotSize) };
        });
        const quantity = ticks(String(draft.detail.quantity), lotSize);
        return quantity > floorUnits(maxQuantity, lotSize) ? this.defect("PRICE_OFF_TICK", m) : [draft, reason];
      }
      case "CURRENCY_MISMATCH": {
        const venue = this.rng.pick(VENUES);
        const change = venue === "beta" ? { currency_code: "EUR" } : { currency: "EUR" };
        return [this.badTrade(venue, m, lots, () => change), reason];
      }
      case "INCONSISTENT_AMOUNT": {
        // one minor unit too much, on a quantity with a factor 3: amount / quantity never terminates
        const thirds = 3n * BigInt(1 + this.rng.int(Math.max(1, Math.floor(m.profile.maxLots / 3))));
        const scale = parseDecimal(tickSize)!.scale + parseDecimal(lotSize)!.scale;
        const draft = this.badTrade("gamma", m, thirds, (d) => {
          const amount = parseDecimal(String(d.amount))!;
          return { amount: formatScaled(amount.digits * 10n ** BigInt(scale - amount.scale) + 1n, scale) };
        });
        return [draft, reason];
      }
      case "INVALID_TIMESTAMP": {
        // epoch seconds where alpha sends milliseconds, or a local offset where beta wants Z
        const draft =
          this.rng.int(2) === 0
            ? this.badTrade("alpha", m, lots, (d) => ({ executedAt: Math.floor(Number(d.executedAt) / 1000) }))
            : this.badTrade("beta", m, lots, (d) => ({ executed_at: newYorkTime(Date.parse(String(d.executed_at))) }));
        return [draft, reason];
      }
      default:
        throw new Error(`the scenario has no defect for ${reason}`);
    }
  }
}

/** `base` with `changes` applied; a change to undefined removes the field. */
function changed(base: Detail, changes: Detail): Detail {
  const merged: Detail = { ...base, ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete merged[key];
  return merged;
}

interface ResolvedOptions extends Required<ScenarioOptions> {}

function resolve(o: ScenarioOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    seed: o.seed,
    orders: o.orders,
    busName: o.busName,
    symbols: o.symbols ?? SAMPLE_INSTRUMENTS.map((i) => i.symbol),
    clients: o.clients ?? SCENARIO_DEFAULTS.clients,
    cancelRate: o.cancelRate ?? SCENARIO_DEFAULTS.cancelRate,
    invalidRate: o.invalidRate ?? SCENARIO_DEFAULTS.invalidRate,
    venueTradeRate: o.venueTradeRate ?? SCENARIO_DEFAULTS.venueTradeRate,
    alertExcursions: o.alertExcursions ?? SCENARIO_DEFAULTS.alertExcursions,
    thresholds: o.thresholds ?? DEFAULT_ALERT_THRESHOLDS,
    startTime: o.startTime ?? SCENARIO_DEFAULTS.startTime,
    stepMs: o.stepMs ?? SCENARIO_DEFAULTS.stepMs,
  };
  const whole = (name: string, value: number, min: number) => {
    if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}`);
  };
  whole("seed", r.seed, 0);
  whole("orders", r.orders, 0);
  whole("clients", r.clients, 1);
  whole("alertExcursions", r.alertExcursions, 0);
  whole("startTime", r.startTime, Date.UTC(2000, 0, 1));
  whole("stepMs", r.stepMs, 1);
  for (const [name, rate] of [
    ["cancelRate", r.cancelRate],
    ["invalidRate", r.invalidRate],
    ["venueTradeRate", r.venueTradeRate],
  ] as const) {
    if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`${name} must be a non-negative number`);
  }
  if (r.busName.length === 0) throw new RangeError("busName must not be empty");
  if (r.symbols.length === 0 || new Set(r.symbols).size !== r.symbols.length) {
    throw new RangeError("symbols must be a non-empty list without repeats");
  }
  return r;
}

/** The event stream for these options: the same options give the same stream, entry for entry. */
export function buildScenario(options: ScenarioOptions): ScenarioEvent[] {
  return new ScenarioBuilder(resolve(options)).build();
}

export type OrderStyle = "GTC" | "POST_ONLY" | "IOC" | "FOK" | "MARKET";

/**
 * The engine's refusals a scenario cannot count: they depend on the order in which concurrent executions reach
 * the book (a cancel before its order or after its last fill, a post-only or FOK order against the book of that
 * moment). Every other rejection is predicted, by stage and reason: the validator's, one per INVALID event, and
 * none from the engine's band and market notional checks or the recorder's band (see assertEngineAccepts).
 */
export const TIMING_DEPENDENT_REFUSALS: readonly RejectReason[] = [
  "UNKNOWN_ORDER",
  "ORDER_NOT_OPEN",
  "POST_ONLY_WOULD_CROSS",
  "FOK_NOT_FILLABLE",
];

export interface ScenarioExpectations {
  readonly events: number;
  readonly byKind: Readonly<Record<ScenarioKind, number>>;
  /** Valid orders by style (GTC counts plain GTC limits; POST_ONLY the post-only ones). */
  readonly orders: Readonly<Record<OrderStyle, number>>;
  /** Valid orders, cancels and trade reports per symbol. */
  readonly bySymbol: Readonly<Record<string, number>>;
  /** Valid trade reports per venue. */
  readonly byVenue: Readonly<Record<Venue, number>>;
  /** What the validator must reject (recorded with stage VALIDATION), by reason code: one per INVALID event. */
  readonly rejections: Readonly<Partial<Record<ReasonCode, number>>>;
  /**
   * Alerts the alerter raises when every trade is processed in trade-time order from an empty alerts table:
   * the zone changes along each symbol's venue prints. `exact` says the engine's trades cannot add any: every
   * limit price of a symbol lies in the zone its venue prints end in (an engine trade is at a limit price).
   */
  readonly alerts: {
    readonly total: number;
    readonly bySymbol: Readonly<Record<string, number>>;
    readonly exact: boolean;
  };
}

const venueOf = (source: string): Venue | undefined => VENUES.find((v) => venueSource(v) === source);

/** What the pipeline should make of a scenario: counts per kind and reason, and the alerts it should raise. */
export function scenarioExpectations(
  events: readonly ScenarioEvent[],
  thresholds: AlertThresholds = DEFAULT_ALERT_THRESHOLDS,
): ScenarioExpectations {
  const byKind: Record<ScenarioKind, number> = { ORDER: 0, CANCEL: 0, VENUE_TRADE: 0, INVALID: 0 };
  const orders: Record<OrderStyle, number> = { GTC: 0, POST_ONLY: 0, IOC: 0, FOK: 0, MARKET: 0 };
  const byVenue: Record<Venue, number> = { alpha: 0, beta: 0, gamma: 0 };
  const bySymbol: Record<string, number> = {};
  const rejections: Partial<Record<ReasonCode, number>> = {};
  const zones = new Map<string, Zone>();
  const alerts: Record<string, number> = {};
  const limitZones = new Map<string, Set<Zone>>();
  const count = (symbol: string) => {
    bySymbol[symbol] = (bySymbol[symbol] ?? 0) + 1;
  };

  for (const { entry, kind, expectedRejection } of events) {
    byKind[kind]++;
    if (kind === "INVALID") {
      if (expectedRejection) rejections[expectedRejection] = (rejections[expectedRejection] ?? 0) + 1;
      continue;
    }
    const detail: unknown = JSON.parse(entry.Detail);
    if (kind === "CANCEL") {
      count(String((detail as Detail).symbol));
    } else if (kind === "ORDER") {
      const order = OrderSubmittedDetailSchema.parse(detail);
      count(order.symbol);
      if (order.type === "MARKET") {
        orders.MARKET++;
        continue;
      }
      orders[order.postOnly ? "POST_ONLY" : order.timeInForce]++;
      const zone = zoneOf(order.price, thresholdsFor(thresholds, order.symbol));
      limitZones.set(order.symbol, (limitZones.get(order.symbol) ?? new Set()).add(zone));
    } else {
      const venue = venueOf(entry.Source);
      if (!venue) throw new Error(`not a venue: ${entry.Source}`);
      const parsed = parseTradeDetail[venue](detail);
      if (!parsed.ok) throw new Error(`not a valid trade report: ${entry.Detail}`);
      const { symbol, price } = parsed.trade;
      byVenue[venue]++;
      count(symbol);
      const change = crossing(zones.get(symbol) ?? "BETWEEN", price, thresholdsFor(thresholds, symbol));
      if (change) {
        zones.set(symbol, change.to);
        alerts[symbol] = (alerts[symbol] ?? 0) + 1;
      }
    }
  }
  const exact = [...limitZones].every(([symbol, seen]) =>
    [...seen].every((z) => z === (zones.get(symbol) ?? "BETWEEN")),
  );
  const total = Object.values(alerts).reduce((sum, n) => sum + n, 0);
  return {
    events: events.length,
    byKind,
    orders,
    bySymbol,
    byVenue,
    rejections,
    alerts: { total, bySymbol: alerts, exact },
  };
}
