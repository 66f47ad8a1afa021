import fc from "fast-check";
import { BAD_INPUTS, DUPLICATE_ID_PAIR } from "../../../../tests/support/bad-inputs";
import { cancelEvent, LIMIT_ORDER, orderEvent, tradeEvent } from "../../../../tests/support/test-events";
import { ConfigurationError } from "../config";
import {
  parseEvent,
  parseRejectionCause,
  REASON_CODE_LIST,
  type ReasonCode,
  type ValidatedEvent,
  ValidationRejected,
} from "../contracts";
import { compareDecimal, formatScaled } from "../decimal";
import { type Instrument, instrumentRegistry, priceBand, SAMPLE_INSTRUMENTS } from "../instruments";
import { futureTimestamps, type ValidationSources, validateEvent } from ".";

const AAPL = SAMPLE_INSTRUMENTS.find((i) => i.symbol === "AAPL")!;
const HALTED: Instrument = { ...AAPL, symbol: "HALTED-1", status: "HALTED" };

const ORDER_BAND = "priceBand: checked by the matching engine against its own last trade price";
const TRADE_BAND = "priceBand: checked once by the recorder against the engine's last trade price";
const MARKET_NOTIONAL = "notional: a market order's is checked by the matching engine at its last trade price";
const MARKET = { type: "MARKET", price: undefined, timeInForce: undefined, postOnly: undefined };

/** In-memory sources that count their reads. */
function sources() {
  const reads = { instruments: 0 };
  const wired: ValidationSources = {
    instruments: async () => {
      reads.instruments++;
      return instrumentRegistry([...SAMPLE_INSTRUMENTS, HALTED]);
    },
  };
  return { wired, reads };
}

async function reasonsFor(input: unknown): Promise<ReasonCode[]> {
  try {
    await validateEvent(input, sources().wired);
  } catch (err) {
    if (err instanceof ValidationRejected) return [...err.reasons];
    throw err;
  }
  return [];
}

const passes = (input: unknown) => validateEvent(input, sources().wired);

describe("validateEvent", () => {
  it("passes a limit order with the matcher's command and leaves the band to the engine", async () => {
    const validated = await passes(orderEvent());
    expect(validated).toMatchObject({
      kind: "ORDER_SUBMIT",
      order: { orderId: "O-1001", price: "150.05" },
      command: { type: "LIMIT", orderId: "O-1001", clientId: "C-1001", price: "150.05", quantity: "100" },
    });
    expect(validated.checks).toEqual({ skipped: [ORDER_BAND] });
  });

  it("passes each venue's trade without a command and leaves its band to the recorder", async () => {
    for (const venue of ["alpha", "beta", "gamma"] as const) {
      const validated = await passes(tradeEvent(venue));
      expect(validated.kind).toBe("TRADE");
      expect("command" in validated).toBe(false);
      expect(validated.checks).toEqual({ skipped: [TRADE_BAND] });
    }
  });

  it("passes a cancel with nothing skipped, even for a halted instrument", async () => {
    const validated = await passes(cancelEvent({ symbol: HALTED.symbol }));
    expect(validated).toMatchObject({ kind: "ORDER_CANCEL", command: { type: "CANCEL", orderId: "O-1001" } });
    expect(validated.checks).toEqual({ skipped: [] });
  });

  it("decides an event the same whatever the book did: prices far from any trade pass, the band is downstream's", async () => {
    // Ten times AAPL's sample prices: far outside any band, but the validator has no last trade price to hold it to.
    const farOrder = orderEvent({ price: "1500.5", quantity: "1" });
    const farPrint = tradeEvent("beta", { price_scale: 0 });
    const first = await Promise.all([passes(farOrder), passes(farPrint)]);
    expect(first.map((v) => v.checks.skipped)).toEqual([[ORDER_BAND], [TRADE_BAND]]);
    expect(await Promise.all([passes(farOrder), passes(farPrint)])).toEqual(first);
  });

  it.each<[ReasonCode, unknown]>([
    ["UNKNOWN_SYMBOL", orderEvent({ symbol: "MSFT" })],
    ["UNKNOWN_SYMBOL", cancelEvent({ symbol: "MSFT" })],
    ["INSTRUMENT_NOT_TRADING", orderEvent({ symbol: HALTED.symbol })],
    ["CURRENCY_MISMATCH", tradeEvent("alpha", { currency: "EUR" })],
    ["PRICE_OFF_TICK", orderEvent({ price: "150.005" })],
    ["PRICE_OFF_TICK", tradeEvent("beta", { price_minor: 1500125, price_scale: 4 })],
    ["QUANTITY_OFF_LOT", orderEvent({ quantity: "10.5" })],
    ["QUANTITY_OFF_LOT", tradeEvent("gamma", { quantity: "0.5", amount: "75" })],
    ["QUANTITY_TOO_LARGE", orderEvent({ quantity: "100001", price: "1" })],
    ["NOTIONAL_TOO_LARGE", orderEvent({ quantity: "70000", price: "150" })],
    ["NOTIONAL_TOO_LARGE", tradeEvent("alpha", { quantity: "70000", price: "150" })],
  ])("rejects with %s", async (reason, input) => {
    expect(await reasonsFor(input)).toEqual([reason]);
  });

  it("reports every violated rule at once", async () => {
    const input = orderEvent({ symbol: HALTED.symbol, price: "170.005", quantity: "200000.5" });
    expect(await reasonsFor(input)).toEqual([
      "INSTRUMENT_NOT_TRADING",
      "QUANTITY_OFF_LOT",
      "QUANTITY_TOO_LARGE",
      "PRICE_OFF_TICK",
      "NOTIONAL_TOO_LARGE",
    ]);
  });

  it("writes a message a person can act on", async () => {
    const error = await passes(orderEvent({ quantity: "70000", price: "150" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationRejected);
    expect(parseRejectionCause((error as Error).message)).toEqual({
      reasons: ["NOTIONAL_TOO_LARGE"],
      message: "order: notional 10500000 exceeds the maximum 10000000 for AAPL",
    });
  });

  it("holds a limit order's notional to the maximum exactly, and leaves a market order's to the engine", async () => {
    // AAPL's maxNotional is 10 000 000: 160 × 62 500 is exactly that, 160.01 × 62 500 is above it.
    expect(await reasonsFor(orderEvent({ price: "160", quantity: "62500" }))).toEqual([]);
    expect(await reasonsFor(orderEvent({ price: "160.01", quantity: "62500" }))).toEqual(["NOTIONAL_TOO_LARGE"]);
    const market = await passes(orderEvent({ ...MARKET, quantity: "70000" }));
    expect(market).toMatchObject({ command: { type: "MARKET", quantity: "70000" } });
    expect(market.checks).toEqual({ skipped: [MARKET_NOTIONAL, ORDER_BAND] });
  });

  it("never reads configuration for structurally bad input", async () => {
    const { wired, reads } = sources();
    await expect(validateEvent(orderEvent({ price: "1e309" }), wired)).rejects.toBeInstanceOf(ValidationRejected);
    expect(reads).toEqual({ instruments: 0 });
  });

  it("lets configuration failures through as themselves, not as rejections", async () => {
    const broken: ValidationSources = {
      instruments: () => Promise.reject(new ConfigurationError("SSM parameter /x/instruments is missing")),
    };
    await expect(validateEvent(orderEvent(), broken)).rejects.toBeInstanceOf(ConfigurationError);
  });

  it("validates each of two events that share an order id with different content", async () => {
    const [first, second] = await Promise.all(DUPLICATE_ID_PAIR.map((e) => passes(e)));
    const commandOf = (v: ValidatedEvent) => ("command" in v ? v.command : null);
    expect(commandOf(first!)).toMatchObject({ orderId: "O-1001", price: "150.05" });
    expect(commandOf(second!)).toMatchObject({ orderId: "O-1001", price: "149" });
  });
});

// The band itself stays here: the engine's script applies the same rule and the recorder calls this function.
describe("priceBand", () => {
  const inBand = (price: string, last: string, bps: number) => {
    const { lower, upper } = priceBand(last, bps);
    return compareDecimal(price, lower) >= 0 && compareDecimal(price, upper) <= 0;
  };

  it("computes band edges exactly and floors them at zero", () => {
    expect(priceBand("150", 500)).toEqual({ lower: "142.5", upper: "157.5" });
    expect(priceBand("0.03", 1000)).toEqual({ lower: "0.027", upper: "0.033" });
    expect(priceBand("150", 20_000)).toEqual({ lower: "0", upper: "450" });
  });

  it("includes the edges and nothing beyond", () => {
    expect(["142.5", "150", "157.5"].map((p) => inBand(p, "150", 500))).toEqual([true, true, true]);
    expect(["142.49", "157.51"].map((p) => inBand(p, "150", 500))).toEqual([false, false]);
  });

  it("bands exactly: inside iff |price - last| * 10 000 <= last * bps", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10_000_000n }),
        fc.bigInt({ min: 1n, max: 10_000_000n }),
        fc.integer({ min: 1, max: 20_000 }),
        (lastTicks, priceTicks, bps) => {
          const distance = priceTicks > lastTicks ? priceTicks - lastTicks : lastTicks - priceTicks;
          const inside = distance * 10_000n <= lastTicks * BigInt(bps);
          expect(inBand(formatScaled(priceTicks, 2), formatScaled(lastTicks, 2), bps)).toBe(inside);
        },
      ),
    );
  });

  it("refuses a last trade price that is not a decimal", () => {
    expect(() => priceBand("1e3", 500)).toThrow("invalid last trade price 1e3");
  });
});

describe("the bad input corpus", () => {
  it.each(BAD_INPUTS.map((b) => [b.name, b] as const))("rejects %s with its reasons", async (_, bad) => {
    expect((await reasonsFor(bad.input)).sort()).toEqual([...bad.reasons].sort());
  });

  it("with the business rules, reaches every reason code but the band, which the engine and the recorder decide", async () => {
    const business = [
      orderEvent({ symbol: "MSFT" }),
      orderEvent({ symbol: HALTED.symbol, price: "170.005", quantity: "200000.5" }),
      tradeEvent("alpha", { currency: "EUR" }),
    ];
    const seen = new Set<ReasonCode>(BAD_INPUTS.flatMap((b) => b.reasons));
    for (const input of business) for (const reason of await reasonsFor(input)) seen.add(reason);
    expect(REASON_CODE_LIST.filter((reason) => !seen.has(reason))).toEqual(["PRICE_OUTSIDE_BAND"]);
  });
});

describe("any input", () => {
  const outcome = async (input: unknown) => {
    try {
      await passes(input);
      return "PASSED";
    } catch (err) {
      if (!(err instanceof ValidationRejected)) throw err;
      expect(parseRejectionCause(err.message)?.reasons).toEqual(err.reasons);
      return "REJECTED";
    }
  };

  it("either passes or is rejected: random values as the whole input", async () => {
    await fc.assert(fc.asyncProperty(fc.anything(), async (input) => expect(await outcome(input)).toBe("REJECTED")));
  });

  it("either passes or is rejected: random strings and JSON in any field of a valid event", async () => {
    const fields = [...Object.keys(LIMIT_ORDER), "idempotencyKey", "extra"];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.jsonValue()),
        async (field, value) => {
          expect(["PASSED", "REJECTED"]).toContain(await outcome(orderEvent({ [field]: value })));
        },
      ),
    );
  });

  it("either passes or is rejected: random strings as detail or envelope fields", async () => {
    const fields = ["version", "id", "source", "detail-type", "time", "account", "region", "detail"];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), fc.string({ unit: "binary" }), async (field, value) => {
        expect(["PASSED", "REJECTED"]).toContain(await outcome(tradeEvent("beta", {}, { [field]: value })));
      }),
    );
  });
});

describe("times in the future", () => {
  const NOW = Date.parse("2026-03-02T12:00:00.000Z");
  const iso = (ms: number) => new Date(ms).toISOString();
  const skew = (maxFutureSeconds: number) => ({ maxFutureSeconds });
  const clocked = (maxFutureSeconds = 300): ValidationSources => ({
    ...sources().wired,
    clockSkew: async () => skew(maxFutureSeconds),
    now: () => NOW,
  });
  /** The paths the time rule refuses in a structurally valid event. */
  function latePaths(input: unknown, maxFutureSeconds = 300): string[] {
    const parsed = parseEvent(input);
    if (!parsed.ok) throw new Error(`not a valid event: ${JSON.stringify(parsed.violations)}`);
    return futureTimestamps(parsed.event, NOW, skew(maxFutureSeconds)).map((v) => v.path);
  }

  it("accepts any envelope time up to the skew ahead of now, and refuses any later one", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 86_400 }),
        fc.integer({ min: -86_400_000, max: 2 * 86_400_000 }),
        fc.constantFrom<(envelope: { time: string }) => unknown>(
          (e) => orderEvent({}, e),
          (e) => cancelEvent({}, e),
          (e) => tradeEvent("beta", {}, e),
        ),
        (seconds, ahead, make) => {
          const late = ahead > seconds * 1000;
          expect(latePaths(make({ time: iso(NOW + ahead) }), seconds)).toEqual(late ? ["time"] : []);
        },
      ),
    );
  });

  it("holds each venue's execution time to the same limit as the envelope's, to the millisecond", () => {
    const limit = NOW + 300_000;
    for (const [ms, expected] of [
      [limit, []],
      [limit + 1, ["trade.executedAt"]],
    ] as const) {
      expect(latePaths(tradeEvent("alpha", { executedAt: ms }))).toEqual(expected);
      expect(latePaths(tradeEvent("beta", { executed_at: iso(ms) }))).toEqual(expected);
      expect(latePaths(tradeEvent("gamma", { tradeTime: iso(ms).replace("Z", "+00:00") }))).toEqual(expected);
    }
  });

  it("rejects with INVALID_TIMESTAMP beside every other violated rule, and says by how much", async () => {
    const future = { time: "9999-12-31T23:59:59Z" };
    const everything = tradeEvent("alpha", { executedAt: Date.UTC(9999, 11, 31), currency: "EUR" }, future);
    const error = await validateEvent(everything, clocked()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationRejected);
    const { reasons, explanation } = error as ValidationRejected;
    expect(reasons).toEqual(["INVALID_TIMESTAMP", "CURRENCY_MISMATCH"]);
    expect(explanation).toContain(
      "time: 9999-12-31T23:59:59.000Z is more than 300 s after the validator's clock (2026-03-02T12:00:00.000Z)",
    );
    expect(explanation).toContain("trade.executedAt: 9999-12-31T00:00:00.000Z is more than 300 s after");
  });

  it("accepts the past, however far, and defaults to the system clock and a 5 minute skew", async () => {
    expect((await validateEvent(orderEvent({}, { time: "2000-01-01T00:00:00Z" }), clocked(0))).kind).toBe(
      "ORDER_SUBMIT",
    );
    expect(await reasonsFor(orderEvent({}, { time: iso(Date.now() + 60_000) }))).toEqual([]);
    expect(await reasonsFor(orderEvent({}, { time: iso(Date.now() + 600_000) }))).toEqual(["INVALID_TIMESTAMP"]);
  });

  it("lets a clock-skew configuration failure through as itself", async () => {
    const broken: ValidationSources = {
      ...clocked(),
      clockSkew: () => Promise.reject(new ConfigurationError("SSM parameter /x/clock-skew is missing")),
    };
    await expect(validateEvent(orderEvent(), broken)).rejects.toBeInstanceOf(ConfigurationError);
  });
});
