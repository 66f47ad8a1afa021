// scripts/scenario.ts: a seeded stream that is deterministic, passes the project's own contracts and validator
// (its invalid events fail with exactly the reason they announce), leaves the engine's and the recorder's band and
// notional checks nothing to refuse, stays on the grids, crosses in every book, and raises the number of alerts it
// predicts, checked against template.yaml's SSM defaults.
import fc from "fast-check";
import { AlertThresholdsSchema, crossing, type PriceTick, tickKey, type Zone } from "../../layers/common/src/alerts";
import {
  MAX_DETAIL_BYTES,
  OrderCancelRequestedDetailSchema,
  OrderSubmittedDetailSchema,
  parseTradeDetail,
  type ReasonCode,
  type ReportedTrade,
  routeOf,
  type ValidatedEvent,
  ValidationRejected,
  VENUES,
  venueSource,
} from "../../layers/common/src/contracts";
import { compareDecimal, multiply, toUnits } from "../../layers/common/src/decimal";
import {
  type Instrument,
  InstrumentListSchema,
  instrumentRegistry,
  priceBand,
} from "../../layers/common/src/instruments";
import { type ValidationSources, validateEvent } from "../../layers/common/src/validation";
import { loadTemplate, TemplateResolver } from "../../local/template";
import {
  buildScenario,
  SCENARIO_DEFECTS,
  type ScenarioEntry,
  type ScenarioEvent,
  type ScenarioOptions,
  scenarioExpectations,
  TIMING_DEPENDENT_REFUSALS,
} from "../../scripts/scenario";
import { ReferenceBook } from "../support/reference-book";

// What a deployed stack reads from SSM: template.yaml's defaults.
const template = loadTemplate();
const resolver = new TemplateResolver(template, { region: "us-east-1" });
const ssm = (id: string): unknown => JSON.parse(resolver.resolveString(template.Resources[id]?.Properties.Value));
const INSTRUMENTS = InstrumentListSchema.parse(ssm("InstrumentsParameter"));
const THRESHOLDS = AlertThresholdsSchema.parse(ssm("AlertThresholdsParameter"));
const REGISTRY = instrumentRegistry(INSTRUMENTS);

const BUS = "tradeflow-dev";
const scenario = (o: Partial<ScenarioOptions> = {}) => buildScenario({ seed: 7, orders: 2000, busName: BUS, ...o });
const DEFAULT = scenario();

const detailOf = (e: ScenarioEvent): Record<string, unknown> => JSON.parse(e.entry.Detail);
const venueOf = (e: ScenarioEvent) => VENUES.find((v) => venueSource(v) === e.entry.Source);
const instrument = (symbol: string): Instrument => REGISTRY.get(symbol)!;
const onGrid = (value: string, step: string) => toUnits(value, step, 10n ** 30n).ok;

function tradeOf(e: ScenarioEvent): ReportedTrade {
  const parsed = parseTradeDetail[venueOf(e)!](detailOf(e));
  if (!parsed.ok) throw new Error(`invalid trade ${e.entry.Detail}: ${JSON.stringify(parsed.violations)}`);
  return parsed.trade;
}

/** What a rule target receives: EventBridge keeps whole seconds of the entry's Time. */
function delivered(entry: ScenarioEntry, n: number) {
  return {
    version: "0",
    id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    "detail-type": entry.DetailType,
    source: entry.Source,
    account: "123456789012",
    time: `${entry.Time.toISOString().slice(0, 19)}Z`,
    region: "us-east-1",
    resources: [],
    detail: JSON.parse(entry.Detail) as unknown,
  };
}

const SOURCES: ValidationSources = { instruments: async () => REGISTRY };

async function validated(input: unknown): Promise<ValidatedEvent | readonly ReasonCode[]> {
  try {
    return await validateEvent(input, SOURCES);
  } catch (err) {
    if (err instanceof ValidationRejected) return err.reasons;
    throw err;
  }
}

/** Every price the engine's last trade of a symbol can have lies in this range: it trades only at limit prices. */
function limitPriceRange(events: readonly ScenarioEvent[]): Map<string, { lo: string; hi: string }> {
  const ranges = new Map<string, { lo: string; hi: string }>();
  const add = (symbol: string, price: string) => {
    const r = ranges.get(symbol) ?? { lo: price, hi: price };
    if (compareDecimal(price, r.lo) < 0) r.lo = price;
    if (compareDecimal(price, r.hi) > 0) r.hi = price;
    ranges.set(symbol, r);
  };
  for (const e of events) {
    if (e.kind !== "ORDER") continue;
    const order = OrderSubmittedDetailSchema.parse(detailOf(e));
    if (order.type === "LIMIT") add(order.symbol, order.price);
  }
  return ranges;
}

/** The validator on every event (it reads no state). Returns the problems found and what passed. */
async function validateAll(events: readonly ScenarioEvent[]) {
  const problems: string[] = [];
  const passed: (ValidatedEvent | null)[] = [];
  for (const [n, e] of events.entries()) {
    const result = await validated(delivered(e.entry, n));
    const rejected = Array.isArray(result);
    if (e.kind === "INVALID" && !(rejected && result.length === 1 && result[0] === e.expectedRejection)) {
      problems.push(`#${n} expected [${e.expectedRejection}], got ${JSON.stringify(result)}: ${e.entry.Detail}`);
    }
    if (e.kind !== "INVALID" && rejected) problems.push(`#${n} rejected ${result.join(",")}: ${e.entry.Detail}`);
    passed.push(rejected ? null : (result as ValidatedEvent));
  }
  return { problems, passed };
}

/**
 * What would be refused for the last trade price, at every price the engine's last trade can have: the engine's
 * band (a limit order) and notional (a market order) checks, and the recorder's band (a venue print). A price is
 * inside the band around every last price of a range iff around its lowest and its highest (the band's edges
 * grow with the last price); a market order's notional is largest at the highest.
 */
async function refusalsAtAnyLastPrice(events: readonly ScenarioEvent[]): Promise<string[]> {
  const ranges = limitPriceRange(events);
  const problems: string[] = [];
  for (const [n, v] of (await validateAll(events)).passed.entries()) {
    if (!v || (v.kind !== "TRADE" && v.kind !== "ORDER_SUBMIT")) continue;
    const { symbol, price, quantity } = v.kind === "TRADE" ? v.trade : v.order;
    const range = ranges.get(symbol);
    if (!range) continue;
    const { priceBandBps, maxNotional } = instrument(symbol);
    if (price === null) {
      const notional = multiply(range.hi, quantity);
      if (compareDecimal(notional, maxNotional) > 0) problems.push(`#${n} NOTIONAL_TOO_LARGE: ${notional}`);
      continue;
    }
    for (const last of [range.lo, range.hi]) {
      const { lower, upper } = priceBand(last, priceBandBps);
      if (compareDecimal(price, lower) < 0 || compareDecimal(price, upper) > 0) {
        problems.push(`#${n} PRICE_OUTSIDE_BAND: ${price} outside ${lower}..${upper} around ${last}`);
      }
    }
  }
  return problems;
}

/** Static invariants of any scenario; returns what is wrong. */
function invariants(events: readonly ScenarioEvent[], o: { orders: number; stepMs?: number }): string[] {
  const wrong: string[] = [];
  const ids = new Set<string>();
  const unique = (id: string) => {
    if (ids.has(id)) wrong.push(`duplicate id ${id}`);
    ids.add(id);
  };
  let lastTradeTime = 0;
  for (const [n, e] of events.entries()) {
    const { entry, kind, expectedRejection } = e;
    const detail = detailOf(e);
    if (entry.EventBusName !== BUS) wrong.push(`#${n} bus ${entry.EventBusName}`);
    if (!routeOf(entry.Source, entry.DetailType)) wrong.push(`#${n} no route for ${entry.Source}/${entry.DetailType}`);
    if (Buffer.byteLength(JSON.stringify(detail)) > MAX_DETAIL_BYTES) wrong.push(`#${n} detail too large`);
    if (Buffer.byteLength(JSON.stringify(entry)) > 256 * 1024) wrong.push(`#${n} entry too large`);
    if (n > 0 && entry.Time.getTime() - events[n - 1]!.entry.Time.getTime() !== (o.stepMs ?? 250)) {
      wrong.push(`#${n} time does not advance by one step`);
    }
    if ((kind === "INVALID") !== (expectedRejection !== undefined)) wrong.push(`#${n} ${kind} / ${expectedRejection}`);
    if (kind === "ORDER") {
      const parsed = OrderSubmittedDetailSchema.safeParse(detail);
      if (!parsed.success) wrong.push(`#${n} order contract: ${entry.Detail}`);
      else {
        const { tickSize, lotSize } = instrument(parsed.data.symbol);
        if (parsed.data.type === "LIMIT" && !onGrid(parsed.data.price, tickSize)) wrong.push(`#${n} off tick`);
        if (!onGrid(parsed.data.quantity, lotSize)) wrong.push(`#${n} off lot`);
        unique(parsed.data.orderId);
        if (parsed.data.idempotencyKey !== undefined) unique(parsed.data.idempotencyKey);
      }
    } else if (kind === "CANCEL") {
      const parsed = OrderCancelRequestedDetailSchema.safeParse(detail);
      if (!parsed.success || parsed.data.idempotencyKey === undefined) wrong.push(`#${n} cancel: ${entry.Detail}`);
      else unique(parsed.data.idempotencyKey);
    } else if (kind === "VENUE_TRADE") {
      const trade = tradeOf(e);
      const { tickSize, lotSize } = instrument(trade.symbol);
      if (!onGrid(trade.price, tickSize) || !onGrid(trade.quantity, lotSize)) wrong.push(`#${n} trade off grid`);
      unique(trade.tradeId);
      const time = Date.parse(trade.executedAt);
      if (time <= lastTradeTime || time > entry.Time.getTime()) wrong.push(`#${n} trade time out of order`);
      lastTradeTime = time;
    }
  }
  const counts = scenarioExpectations(events, THRESHOLDS).byKind;
  if (counts.ORDER !== o.orders) wrong.push(`${counts.ORDER} orders, not ${o.orders}`);
  return wrong;
}

/** Some buy limit at or above an earlier resting (GTC) sell limit of the same symbol, and vice versa. */
function crosses(events: readonly ScenarioEvent[], symbol: string): boolean {
  let lowestAsk: string | null = null;
  let highestBid: string | null = null;
  for (const e of events) {
    if (e.kind !== "ORDER") continue;
    const o = OrderSubmittedDetailSchema.parse(detailOf(e));
    if (o.symbol !== symbol || o.type !== "LIMIT") continue;
    if (o.side === "BUY" && lowestAsk !== null && compareDecimal(o.price, lowestAsk) >= 0) return true;
    if (o.side === "SELL" && highestBid !== null && compareDecimal(o.price, highestBid) <= 0) return true;
    if (o.timeInForce !== "GTC") continue;
    if (o.side === "SELL" && (lowestAsk === null || compareDecimal(o.price, lowestAsk) < 0)) lowestAsk = o.price;
    if (o.side === "BUY" && (highestBid === null || compareDecimal(o.price, highestBid) > 0)) highestBid = o.price;
  }
  return false;
}

describe("buildScenario", () => {
  it("is deterministic: the same options give the same stream, another seed another one", () => {
    expect(scenario()).toEqual(DEFAULT);
    const other = scenario({ seed: 8 });
    expect(other.map((e) => e.entry.Detail)).not.toEqual(DEFAULT.map((e) => e.entry.Detail));
  });

  it("keeps ids apart between seeds, so two scenarios never collide", () => {
    const ids = (events: readonly ScenarioEvent[]) =>
      new Set(
        events.flatMap((e) => {
          const d = detailOf(e);
          return [d.orderId, d.idempotencyKey, d.tradeId, d.trade_id].filter((v) => typeof v === "string");
        }),
      );
    const a = ids(DEFAULT);
    const shared = [...ids(scenario({ seed: 8 }))].filter((id) => a.has(id));
    expect(shared).toEqual([]);
  });

  it("has the default mix: exact counts per kind, every symbol, client, venue and order style", () => {
    const x = scenarioExpectations(DEFAULT, THRESHOLDS);
    expect(x.byKind).toEqual({ ORDER: 2000, CANCEL: 300, VENUE_TRADE: 3 + 200 + 6, INVALID: 40 });
    expect(Object.keys(x.bySymbol).sort()).toEqual(["AAPL", "BTC-USD", "ETH-USD"]);
    for (const n of Object.values(x.byVenue)) expect(n).toBeGreaterThanOrEqual(60);
    for (const n of Object.values(x.orders)) expect(n).toBeGreaterThan(50);
    const clients = new Set(DEFAULT.filter((e) => e.kind === "ORDER").map((e) => detailOf(e).clientId));
    expect(clients.size).toBe(5);
    expect(Object.keys(x.rejections).sort()).toEqual([...SCENARIO_DEFECTS].sort());
    expect(Object.values(x.rejections).reduce((a, b) => a + b, 0)).toBe(40);
  });

  it("satisfies the contracts, the grids, unique ids, the timeline and the entry limits", () => {
    expect(invariants(DEFAULT, { orders: 2000 })).toEqual([]);
  });

  it("serializes to a put-events entries file (Time as an ISO string)", () => {
    const [entry] = JSON.parse(JSON.stringify(DEFAULT.slice(0, 1).map((e) => e.entry)));
    expect(entry).toEqual({
      Source: "tradeflow.venue.alpha",
      DetailType: "Trade Reported",
      Detail: expect.any(String),
      EventBusName: BUS,
      Time: "2025-06-02T14:30:00.000Z",
    });
  });

  it("crosses in every book: some buy at or above an earlier resting sell, some sell at or below a resting buy", () => {
    for (const { symbol } of INSTRUMENTS) expect(crosses(DEFAULT, symbol)).toBe(true);
  });

  it("passes every valid event through the validator and rejects each invalid one with exactly its reason", async () => {
    const { problems } = await validateAll(DEFAULT);
    expect(problems).toEqual([]);
  });

  it("leaves the engine and the recorder nothing to refuse for the band or a market order's notional", async () => {
    expect(await refusalsAtAnyLastPrice(DEFAULT)).toEqual([]);
  });

  it("would notice a print outside the band: beta's price with the scale left off", async () => {
    const [print] = DEFAULT.filter((e) => e.entry.Source === venueSource("beta"));
    const detail = { ...detailOf(print!), price_scale: 0 };
    const bad = { ...print!, entry: { ...print!.entry, Detail: JSON.stringify(detail) } };
    const problems = await refusalsAtAnyLastPrice([...DEFAULT, bad]);
    expect(problems.map((p) => p.slice(0, p.indexOf(":")))).toEqual([
      `#${DEFAULT.length} PRICE_OUTSIDE_BAND`,
      `#${DEFAULT.length} PRICE_OUTSIDE_BAND`,
    ]);
  });

  it("refuses options it cannot honour", () => {
    expect(() => scenario({ seed: -1 })).toThrow(RangeError);
    expect(() => scenario({ orders: 1.5 })).toThrow(RangeError);
    expect(() => scenario({ symbols: ["MSFT"] })).toThrow(RangeError);
    expect(() => scenario({ cancelRate: Number.NaN })).toThrow(RangeError);
  });
});

describe("through the matching engine's reference model", () => {
  // The validator's commands, in stream order, through the in-memory reference book the engine is tested against.
  const run = async (events: readonly ScenarioEvent[]) => {
    const { passed: commands } = await validateAll(events);
    const book = new ReferenceBook(INSTRUMENTS);
    const statuses = new Map<string, number>();
    const ticks: PriceTick[] = [];
    const bump = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
    for (const [n, v] of commands.entries()) {
      if (v?.kind === "TRADE") {
        const { trade } = v;
        ticks.push({
          symbol: trade.symbol,
          price: trade.price,
          tradeId: trade.tradeId,
          ...(trade.venueSequence === null ? {} : { sequence: trade.venueSequence }),
          timestamp: Date.parse(trade.executedAt),
          source: events[n]!.entry.Source,
        });
      }
      if (!v || v.kind === "TRADE") continue;
      const outcome = book.execute(v.command);
      bump(`${v.command.type}:${outcome.status}${outcome.reason ? `:${outcome.reason}` : ""}`);
      for (const t of outcome.trades) {
        const timestamp = v.command.timestamp!;
        const symbol = v.command.symbol ?? "";
        const tradeId = `${symbol}-${t.sequence}`;
        ticks.push({ symbol, price: t.price, tradeId, sequence: t.sequence, timestamp, source: "x" });
        if (compareDecimal(t.makerRemainingQuantity, "0") > 0) bump("maker partially filled");
      }
    }
    return { statuses, ticks };
  };

  /** The alerter's rule: a tick at or before the symbol's newest seen tick is ignored; otherwise zones may change. */
  function alerts(ticks: readonly PriceTick[]): Record<string, number> {
    const state = new Map<string, { zone: Zone; key: string }>();
    const raised: Record<string, number> = {};
    for (const tick of ticks) {
      const key = tickKey(tick);
      const seen = state.get(tick.symbol);
      if (seen && seen.key >= key) continue;
      const pair = THRESHOLDS.symbols[tick.symbol] ?? THRESHOLDS.default;
      const change = crossing(seen?.zone ?? "BETWEEN", tick.price, pair);
      if (change) raised[tick.symbol] = (raised[tick.symbol] ?? 0) + 1;
      state.set(tick.symbol, { zone: change?.to ?? seen?.zone ?? "BETWEEN", key });
    }
    return raised;
  }

  it("rests, crosses, partially fills, and cancels orders some of which have already filled", async () => {
    const { statuses, ticks } = await run(DEFAULT);
    const wanted = [
      "LIMIT:NEW",
      "LIMIT:PARTIALLY_FILLED",
      "LIMIT:FILLED",
      "MARKET:FILLED",
      "CANCEL:CANCELLED",
      "CANCEL:REJECTED:ORDER_NOT_OPEN",
      "maker partially filled",
    ];
    expect(wanted.filter((s) => !statuses.get(s))).toEqual([]);
    // Refused only for the order flow's timing, which the scenario does not predict: never for a band or a notional.
    const refused = [...statuses.keys()].flatMap((s) => /:REJECTED:(\w+)$/.exec(s)?.[1] ?? []);
    const timing = new Set<string>(TIMING_DEPENDENT_REFUSALS);
    expect(refused.filter((reason) => !timing.has(reason))).toEqual([]);
    for (const { symbol } of INSTRUMENTS) {
      expect(ticks.filter((t) => t.symbol === symbol && !t.tradeId.includes(":")).length).toBeGreaterThan(50);
    }
  });

  it("raises the predicted alerts, in stream order and in trade-time order: 1 BTC, 1 ETH and 6 AAPL", async () => {
    const { ticks } = await run(DEFAULT);
    const predicted = scenarioExpectations(DEFAULT, THRESHOLDS).alerts;
    expect(predicted).toEqual({ total: 8, bySymbol: { "BTC-USD": 1, "ETH-USD": 1, AAPL: 6 }, exact: true });
    expect(alerts(ticks)).toEqual(predicted.bySymbol);
    const byTradeTime = [...ticks].sort((a, b) => (tickKey(a) < tickKey(b) ? -1 : 1));
    expect(alerts(byTradeTime)).toEqual(predicted.bySymbol);
  });
});

describe("other options", () => {
  it.each<[Partial<ScenarioOptions>, Record<string, number>]>([
    [{ symbols: ["AAPL"] }, { AAPL: 6 }],
    [{ symbols: ["BTC-USD", "ETH-USD"] }, { "BTC-USD": 1, "ETH-USD": 1 }],
    [{ alertExcursions: 0 }, { "BTC-USD": 1, "ETH-USD": 1 }],
    [
      { alertExcursions: 5, orders: 100 },
      { "BTC-USD": 1, "ETH-USD": 1, AAPL: 10 },
    ],
  ])("%j raises %j", (o, expected) => {
    expect(scenarioExpectations(scenario(o), THRESHOLDS).alerts.bySymbol).toEqual(expected);
  });

  it("keeps its invariants for any seed and size, and its invalid events fail with their reason", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 150, max: 400 }),
        fc.integer({ min: 1, max: 8 }),
        async (seed, orders, clients) => {
          const o = { seed, orders, busName: BUS, clients, invalidRate: 0.1 };
          const events = buildScenario(o);
          expect(buildScenario(o)).toEqual(events);
          expect(invariants(events, o)).toEqual([]);
          for (const { symbol } of INSTRUMENTS) expect(crosses(events, symbol)).toBe(true);
          const x = scenarioExpectations(events, THRESHOLDS);
          expect(x.alerts).toEqual({ total: 8, bySymbol: { "BTC-USD": 1, "ETH-USD": 1, AAPL: 6 }, exact: true });
          expect(x.byKind.CANCEL).toBe(Math.round(orders * 0.15));
          expect(Object.values(x.byVenue).every((n) => n > 0)).toBe(true);
          expect((await validateAll(events)).problems).toEqual([]);
          expect(await refusalsAtAnyLastPrice(events)).toEqual([]);
        },
      ),
      { numRuns: 25 },
    );
  });
});
