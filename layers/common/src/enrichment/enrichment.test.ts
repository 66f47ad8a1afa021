import fc from "fast-check";
import { BAD_INPUTS } from "../../../../tests/support/bad-inputs";
import { cancelEvent, orderEvent, tradeEvent } from "../../../../tests/support/test-events";
import { EnrichmentSchema } from "../contracts";
import { formatScaled, parseDecimal } from "../decimal";
import { instrumentRegistry, SAMPLE_INSTRUMENTS } from "../instruments";
import { MatcherUnavailableError, type TopOfBook } from "../orderbook/types";
import {
  type EnrichmentSources,
  enrichEvent,
  FeeScheduleSchema,
  feeAmount,
  SAMPLE_FEE_SCHEDULE,
  SAMPLE_TRADING_SESSIONS,
  sessionAt,
  TradingSessionsSchema,
} from ".";

const BOOK: TopOfBook = {
  symbol: "AAPL",
  bid: { price: "150", quantity: "300", orders: 2, cumulativeQuantity: "300" },
  ask: { price: "150.1", quantity: "50", orders: 1, cumulativeQuantity: "50" },
  lastTradePrice: "150.05",
};

const working: EnrichmentSources = {
  instruments: async () => instrumentRegistry(SAMPLE_INSTRUMENTS),
  feeSchedule: async () => FeeScheduleSchema.parse(SAMPLE_FEE_SCHEDULE),
  tradingSessions: async () => TradingSessionsSchema.parse(SAMPLE_TRADING_SESSIONS),
  topOfBook: async (symbol) => ({ ...BOOK, symbol }),
};

const AAPL = SAMPLE_INSTRUMENTS.find((i) => i.symbol === "AAPL")!;

describe("enrichEvent", () => {
  it("adds reference data, exact notional and fees, the session and the top of book", async () => {
    const enrichment = await enrichEvent(orderEvent({ price: "150.05", quantity: "333" }), working);
    expect(enrichment).toEqual({
      instrument: AAPL,
      notional: { amount: "49966.65", currency: "USD" },
      // 49966.65 * 1 bps = 4.996665 -> 5.00; * 2.5 bps = 12.4916625 -> 12.49
      fees: { currency: "USD", makerBps: "1", takerBps: "2.5", maker: "5", taker: "12.49" },
      session: "REGULAR",
      topOfBook: BOOK,
      defaulted: [],
    });
    expect(EnrichmentSchema.parse(enrichment)).toEqual(enrichment);
  });

  it("uses the venue's own price, quantity and currency for trades, and the trade time for the session", async () => {
    // 14:29:58 UTC on a Monday is regular hours; 06:00 UTC is before pre-market.
    const regular = await enrichEvent(tradeEvent("alpha"), working);
    expect(regular).toMatchObject({ notional: { amount: "30050", currency: "USD" }, session: "REGULAR" });
    const early = await enrichEvent(tradeEvent("alpha", { executedAt: Date.parse("2025-06-02T06:00:00Z") }), working);
    expect(early.session).toBe("CLOSED");
    const crypto = await enrichEvent(tradeEvent("beta", { instrument_id: "BTC-USD", quantity_scale: 2 }), working);
    expect(crypto).toMatchObject({
      session: "CONTINUOUS",
      notional: { amount: "75.1" },
      fees: { makerBps: "2", takerBps: "5", maker: "0.02", taker: "0.04" },
    });
  });

  it("leaves out what a cancel has no use for, without calling it defaulted", async () => {
    const enrichment = await enrichEvent(cancelEvent(), working);
    expect(enrichment.notional).toBeUndefined();
    expect(enrichment.fees).toBeUndefined();
    expect(enrichment.defaulted).toEqual([]);
  });

  it("says why a market order has no notional", async () => {
    const market = orderEvent({ type: "MARKET", price: undefined, timeInForce: undefined, postOnly: undefined });
    expect((await enrichEvent(market, working)).defaulted).toEqual([
      "notional: a market order has no price",
      "fees: no notional to charge on",
    ]);
  });

  it("defaults each unavailable source on its own and keeps the rest", async () => {
    const down = (what: string) => () => Promise.reject(new Error(`${what} down`));
    const cases: [Partial<EnrichmentSources>, string[]][] = [
      [{ feeSchedule: down("ssm") }, ["fees: fee-schedule config unavailable: ssm down"]],
      [
        { tradingSessions: down("ssm") },
        ["session: trading-sessions config unavailable, assumed CONTINUOUS: ssm down"],
      ],
      [
        { topOfBook: () => Promise.reject(new MatcherUnavailableError("redis unavailable: connect ECONNREFUSED")) },
        ["topOfBook: redis unavailable: connect ECONNREFUSED"],
      ],
      [
        { instruments: down("ssm") },
        [
          "instrument: instruments config unavailable: ssm down",
          "notional: the quote currency needs a listed instrument",
          "fees: no notional to charge on",
          "topOfBook: needs a listed instrument",
        ],
      ],
    ];
    for (const [broken, defaulted] of cases) {
      const enrichment = await enrichEvent(orderEvent(), { ...working, ...broken });
      expect(enrichment.defaulted).toEqual(defaulted);
      expect(enrichment.session).toBe(broken.tradingSessions ? "CONTINUOUS" : "REGULAR");
      if (!broken.instruments) expect(enrichment.instrument).toEqual(AAPL);
    }
  });

  it("survives sources that throw synchronously or never answer", async () => {
    const enrichment = await enrichEvent(
      tradeEvent("gamma"),
      {
        ...working,
        feeSchedule: () => {
          throw new Error("not even a promise");
        },
        topOfBook: () => new Promise<never>(() => {}),
      },
      { topOfBookTimeoutMs: 20 },
    );
    expect(enrichment.defaulted).toEqual([
      "fees: fee-schedule config unavailable: not even a promise",
      "topOfBook: no answer within 20 ms",
    ]);
    expect(enrichment.notional).toEqual({ amount: "1500.5", currency: "USD" });
  });

  it("enriches an unlisted symbol's trade as far as it can", async () => {
    const enrichment = await enrichEvent(tradeEvent("alpha", { symbol: "MSFT" }), working);
    expect(enrichment).toMatchObject({ notional: { amount: "30050", currency: "USD" }, session: "CONTINUOUS" });
    expect(enrichment.defaulted).toEqual(["instrument: MSFT is not listed", "topOfBook: needs a listed instrument"]);
  });

  it.each(BAD_INPUTS.map((b) => [b.name, b] as const))("does not fail on %s", async (_, bad) => {
    const enrichment = await enrichEvent(bad.input, working);
    expect(enrichment.session).toBe("CONTINUOUS");
    expect(enrichment.defaulted).toHaveLength(1);
    expect(enrichment.defaulted[0]).toMatch(/^event: not a valid order or trade event \(.+\); nothing to enrich$/);
  });

  it("never throws, whatever the input", async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything(), async (input) => {
        expect(EnrichmentSchema.safeParse(await enrichEvent(input, working)).success).toBe(true);
      }),
    );
  });
});

describe("fees", () => {
  it("rounds half up at the schedule's decimals", () => {
    expect(feeAmount("2", "25", 2)).toBe("0.01"); // 0.005
    expect(feeAmount("1.9999", "25", 2)).toBe("0"); // 0.00499975
    expect(feeAmount("1000000", "2.5", 2)).toBe("250");
    expect(feeAmount("123.45", "0", 2)).toBe("0");
    expect(feeAmount("0.12345678", "10", 8)).toBe("0.00012346");
  });

  it("is the exact fee to within half a unit of the last decimal, ties up", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        fc.integer({ min: 0, max: 6 }),
        fc.bigInt({ min: 0n, max: 100_000n }),
        fc.integer({ min: 0, max: 8 }),
        (n, ns, bpsTenths, decimals) => {
          const fee = parseDecimal(feeAmount(formatScaled(n, ns), formatScaled(bpsTenths, 1), decimals))!;
          // exact = n * bpsTenths / (10^ns * 10 * 10 000); compare in units of 10^-decimals, scaled by the denominator
          const denominator = 10n ** BigInt(ns) * 10n * 10_000n;
          const exactTimesDenominator = n * bpsTenths * 10n ** BigInt(decimals);
          const feeUnits = fee.digits * 10n ** BigInt(decimals - fee.scale);
          const twiceError = 2n * (feeUnits * denominator - exactTimesDenominator);
          expect(twiceError <= denominator && twiceError > -denominator).toBe(true);
        },
      ),
    );
  });

  it("takes instrument rates over the default and refuses rates beyond 10 000 bps", () => {
    const schedule = FeeScheduleSchema.parse(SAMPLE_FEE_SCHEDULE);
    expect(schedule.instruments["BTC-USD"]).toEqual({ makerBps: "2", takerBps: "5" });
    expect(
      FeeScheduleSchema.safeParse({ ...SAMPLE_FEE_SCHEDULE, default: { makerBps: "10001", takerBps: "1" } }).success,
    ).toBe(false);
    expect(
      FeeScheduleSchema.safeParse({ ...SAMPLE_FEE_SCHEDULE, default: { makerBps: "-1", takerBps: "1" } }).success,
    ).toBe(false);
  });
});

describe("trading sessions", () => {
  const windows = TradingSessionsSchema.parse(SAMPLE_TRADING_SESSIONS).AAPL;

  it.each([
    ["2025-06-02T07:59:59.999Z", "CLOSED"],
    ["2025-06-02T08:00:00.000Z", "PRE_MARKET"],
    ["2025-06-02T13:29:59.999Z", "PRE_MARKET"],
    ["2025-06-02T13:30:00.000Z", "REGULAR"],
    ["2025-06-02T19:59:00.000Z", "REGULAR"],
    ["2025-06-02T20:00:00.000Z", "AFTER_HOURS"],
    ["2025-06-02T23:59:59.999Z", "AFTER_HOURS"],
    ["2025-06-07T15:00:00.000Z", "CLOSED"], // a Saturday
  ])("at %s AAPL is %s", (time, session) => {
    expect(sessionAt(time, windows)).toBe(session);
  });

  it("is CONTINUOUS for an instrument without windows", () => {
    expect(sessionAt("2025-06-07T15:00:00.000Z", undefined)).toBe("CONTINUOUS");
  });

  it("refuses windows that cross midnight or are not HH:MM", () => {
    const window = { name: "NIGHT", days: ["MON"], open: "22:00", close: "02:00" };
    expect(TradingSessionsSchema.safeParse({ AAPL: [window] }).success).toBe(false);
    expect(TradingSessionsSchema.safeParse({ AAPL: [{ ...window, open: "9:30", close: "16:00" }] }).success).toBe(
      false,
    );
    expect(TradingSessionsSchema.safeParse({ AAPL: [{ ...window, open: "22:00", close: "24:00" }] }).success).toBe(
      true,
    );
  });
});
