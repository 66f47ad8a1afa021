import fc from "fast-check";
import { ConfigurationError } from "../config";
import {
  parseRejectionCause,
  REASON_CODE_LIST,
  type ReasonCode,
  type ValidatedEvent,
  ValidationRejected,
} from "../contracts";
import { cancelEvent, LIMIT_ORDER, orderEvent, tradeEvent } from "../contracts/test-events";
import { formatScaled } from "../decimal";
import { type Instrument, instrumentRegistry, SAMPLE_INSTRUMENTS } from "../instruments";
import { priceBand, type ValidationSources, validateEvent } from ".";
import { BAD_INPUTS, DUPLICATE_ID_PAIR } from "./bad-inputs";

const AAPL = SAMPLE_INSTRUMENTS.find((i) => i.symbol === "AAPL")!;
const HALTED: Instrument = { ...AAPL, symbol: "HALTED-1", status: "HALTED" };

/** In-memory sources that count their reads. */
function sources(lastTradePrice: string | null = null) {
  const reads = { instruments: 0, lastTrade: [] as string[] };
  const wired: ValidationSources = {
    instruments: async () => {
      reads.instruments++;
      return instrumentRegistry([...SAMPLE_INSTRUMENTS, HALTED]);
    },
    lastTradePrice: async (symbol) => {
      reads.lastTrade.push(symbol);
      return lastTradePrice;
    },
  };
  return { wired, reads };
}

async function reasonsFor(input: unknown, lastTradePrice: string | null = null): Promise<ReasonCode[]> {
  try {
    await validateEvent(input, sources(lastTradePrice).wired);
  } catch (err) {
    if (err instanceof ValidationRejected) return [...err.reasons];
    throw err;
  }
  return [];
}

const passes = (input: unknown, lastTradePrice: string | null = null) =>
  validateEvent(input, sources(lastTradePrice).wired);

describe("validateEvent", () => {
  it("passes a limit order with the matcher's command and says the band was skipped without a last trade", async () => {
    const validated = await passes(orderEvent());
    expect(validated).toMatchObject({
      kind: "ORDER_SUBMIT",
      order: { orderId: "O-1001", price: "150.05" },
      command: { type: "LIMIT", orderId: "O-1001", clientId: "C-1001", price: "150.05", quantity: "100" },
      checks: { lastTradePrice: null, skipped: ["priceBand: no last trade price recorded for AAPL"] },
    });
  });

  it("checks the band against the last trade price and reports the reference", async () => {
    const validated = await passes(orderEvent(), "150");
    expect(validated.checks).toEqual({ lastTradePrice: "150", skipped: [] });
  });

  it("passes each venue's trade without a command", async () => {
    for (const venue of ["alpha", "beta", "gamma"] as const) {
      const validated = await passes(tradeEvent(venue), "150.1");
      expect(validated.kind).toBe("TRADE");
      expect("command" in validated).toBe(false);
    }
  });

  it("passes a cancel without reading the last trade, even for a halted instrument", async () => {
    const { wired, reads } = sources("150");
    const validated = await validateEvent(cancelEvent({ symbol: HALTED.symbol }), wired);
    expect(validated).toMatchObject({ kind: "ORDER_CANCEL", command: { type: "CANCEL", orderId: "O-1001" } });
    expect(reads.lastTrade).toEqual([]);
  });

  it.each<[ReasonCode, unknown, string | null]>([
    ["UNKNOWN_SYMBOL", orderEvent({ symbol: "MSFT" }), null],
    ["UNKNOWN_SYMBOL", cancelEvent({ symbol: "MSFT" }), null],
    ["INSTRUMENT_NOT_TRADING", orderEvent({ symbol: HALTED.symbol }), null],
    ["CURRENCY_MISMATCH", tradeEvent("alpha", { currency: "EUR" }), null],
    ["PRICE_OFF_TICK", orderEvent({ price: "150.005" }), null],
    ["PRICE_OFF_TICK", tradeEvent("beta", { price_minor: 1500125, price_scale: 4 }), null],
    ["QUANTITY_OFF_LOT", orderEvent({ quantity: "10.5" }), null],
    ["QUANTITY_OFF_LOT", tradeEvent("gamma", { quantity: "0.5", amount: "75" }), null],
    ["QUANTITY_TOO_LARGE", orderEvent({ quantity: "100001", price: "1" }), null],
    ["NOTIONAL_TOO_LARGE", orderEvent({ quantity: "70000", price: "150" }), null],
    ["PRICE_OUTSIDE_BAND", orderEvent({ price: "157.51" }), "150"],
    ["PRICE_OUTSIDE_BAND", tradeEvent("beta", { price_scale: 0 }), "150"],
  ])("rejects with %s", async (reason, input, last) => {
    expect(await reasonsFor(input, last)).toEqual([reason]);
  });

  it("reports every violated rule at once", async () => {
    const input = orderEvent({ symbol: HALTED.symbol, price: "170.005", quantity: "200000.5" });
    expect(await reasonsFor(input, "150")).toEqual([
      "INSTRUMENT_NOT_TRADING",
      "QUANTITY_OFF_LOT",
      "QUANTITY_TOO_LARGE",
      "PRICE_OFF_TICK",
      "NOTIONAL_TOO_LARGE",
      "PRICE_OUTSIDE_BAND",
    ]);
  });

  it("writes a message a person can act on", async () => {
    const error = await validateEvent(orderEvent({ price: "157.51" }), sources("150").wired).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationRejected);
    expect(parseRejectionCause((error as Error).message)).toEqual({
      reasons: ["PRICE_OUTSIDE_BAND"],
      message: "order.price: 157.51 is outside 142.5..157.5, 500 bps around the last trade price 150",
    });
  });

  it("estimates a market order's notional at the last trade price, or says it could not", async () => {
    const market = { type: "MARKET", price: undefined, timeInForce: undefined, postOnly: undefined };
    const blind = await passes(orderEvent({ ...market, quantity: "70000" }));
    expect(blind.checks.skipped).toEqual([
      "notional: a market order has no price and there is no last trade price for AAPL",
    ]);
    expect(await reasonsFor(orderEvent({ ...market, quantity: "70000" }), "150")).toEqual(["NOTIONAL_TOO_LARGE"]);
    expect((await passes(orderEvent({ ...market, quantity: "100" }), "150")).checks).toEqual({
      lastTradePrice: "150",
      skipped: [],
    });
  });

  it("accepts prices exactly on the band's edges and nothing beyond", async () => {
    for (const price of ["142.5", "157.5", "150"]) expect(await reasonsFor(orderEvent({ price }), "150")).toEqual([]);
    for (const price of ["142.49", "157.51"])
      expect(await reasonsFor(orderEvent({ price }), "150")).toEqual(["PRICE_OUTSIDE_BAND"]);
  });

  it("bands exactly: accepted iff |price - last| * 10 000 <= last * bps", () => {
    fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 1n, max: 10_000_000n }),
        fc.bigInt({ min: 1n, max: 10_000_000n }),
        async (lastTicks, priceTicks) => {
          const [last, price] = [formatScaled(lastTicks, 2), formatScaled(priceTicks, 2)];
          const distance = priceTicks > lastTicks ? priceTicks - lastTicks : lastTicks - priceTicks;
          const inside = distance * 10_000n <= lastTicks * BigInt(AAPL.priceBandBps);
          const input = orderEvent({ price, quantity: "1" });
          const reasons = (await reasonsFor(input, last)).filter((r) => r === "PRICE_OUTSIDE_BAND");
          expect(reasons).toEqual(inside ? [] : ["PRICE_OUTSIDE_BAND"]);
        },
      ),
    );
  });

  it("computes band edges exactly and floors them at zero", () => {
    expect(priceBand("150", 500)).toEqual({ lower: "142.5", upper: "157.5" });
    expect(priceBand("0.03", 1000)).toEqual({ lower: "0.027", upper: "0.033" });
    expect(priceBand("150", 20_000)).toEqual({ lower: "0", upper: "450" });
  });

  it("never reads configuration for structurally bad input", async () => {
    const { wired, reads } = sources();
    await expect(validateEvent(orderEvent({ price: "1e309" }), wired)).rejects.toBeInstanceOf(ValidationRejected);
    expect(reads).toEqual({ instruments: 0, lastTrade: [] });
  });

  it("lets configuration and storage failures through as themselves, not as rejections", async () => {
    const broken: ValidationSources = {
      instruments: () => Promise.reject(new ConfigurationError("SSM parameter /x/instruments is missing")),
      lastTradePrice: async () => null,
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

describe("the bad input corpus", () => {
  it.each(BAD_INPUTS.map((b) => [b.name, b] as const))("rejects %s with its reasons", async (_, bad) => {
    expect((await reasonsFor(bad.input)).sort()).toEqual([...bad.reasons].sort());
  });

  it("with the business rules, reaches every reason code", async () => {
    const business = [
      orderEvent({ symbol: "MSFT" }),
      orderEvent({ symbol: HALTED.symbol, price: "170.005", quantity: "200000.5" }),
      tradeEvent("alpha", { currency: "EUR" }),
    ];
    const seen = new Set<ReasonCode>(BAD_INPUTS.flatMap((b) => b.reasons));
    for (const input of business) for (const reason of await reasonsFor(input, "150")) seen.add(reason);
    expect([...seen].sort()).toEqual([...REASON_CODE_LIST].sort());
  });
});

describe("any input", () => {
  const outcome = async (input: unknown) => {
    try {
      await validateEvent(input, sources("150").wired);
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
