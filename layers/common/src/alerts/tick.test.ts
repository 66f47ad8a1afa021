import fc from "fast-check";
import { ClockSkewSchema, DEFAULT_CLOCK_SKEW } from "../config/clock";
import { isFromFuture, PriceTickInvalid, parsePriceTick, tickKey } from "./tick";

const good = {
  symbol: "AAPL",
  price: "151.25",
  tradeId: "AAPL-7",
  sequence: 7,
  timestamp: 1_700_000_000_000,
  source: "tradeflow.orders",
};
const body = (overrides: Record<string, unknown>) => JSON.stringify({ ...good, ...overrides });

describe("parsePriceTick", () => {
  it("parses a tick", () => {
    expect(parsePriceTick(JSON.stringify(good))).toEqual(good);
  });

  it.each([
    ["broken JSON", '{"symbol":"AAPL",'],
    ["not an object", "[]"],
    ["empty body", ""],
    ["missing price", JSON.stringify({ ...good, price: undefined })],
    ["numeric price", body({ price: 151.25 })],
    ["exponent price", body({ price: "1e309" })],
    ["negative zero", body({ price: "-0" })],
    ["hex price", body({ price: "0x10" })],
    ["NaN price", body({ price: "NaN" })],
    ["zero price", body({ price: "0" })],
    ["oversized price", body({ price: "9".repeat(41) })],
    ["control character in trade id", body({ tradeId: "T-1\u0000" })],
    ["unicode trade id", body({ tradeId: "Т-1" })],
    ["unicode symbol", body({ symbol: "ΑAPL" })],
    ["fractional sequence", body({ sequence: 1.5 })],
    ["string timestamp", body({ timestamp: "1700000000000" })],
    ["unknown field", body({ extra: 1 })],
    ["oversized body", body({ padding: "x".repeat(5000) })],
  ])("rejects %s with PriceTickInvalid", (_label, text) => {
    expect(() => parsePriceTick(text)).toThrow(PriceTickInvalid);
  });
});

describe("tickKey", () => {
  it("sorts like (timestamp, sequence, tradeId)", () => {
    const keys = [
      { ...good, timestamp: 2, sequence: 1 },
      { ...good, timestamp: 10, sequence: 1 },
      { ...good, timestamp: 10, sequence: 9 },
      { ...good, timestamp: 10, sequence: 10, tradeId: "A" },
      { ...good, timestamp: 10, sequence: 10, tradeId: "B" },
    ].map(tickKey);
    expect([...keys].sort()).toEqual(keys);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe("isFromFuture", () => {
  const NOW = Date.parse("2026-03-02T12:00:00.000Z");

  it("is true exactly for a tick dated more than the skew after now", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 86_400 }), fc.integer({ min: -NOW, max: 2 * 86_400_000 }), (s, ahead) => {
        const tick = { ...good, timestamp: NOW + ahead };
        expect(isFromFuture(tick, NOW, { maxFutureSeconds: s })).toBe(ahead > s * 1000);
      }),
    );
  });

  it("drops a 9999-12-31 tick and keeps one at the edge of the default 5 minutes", () => {
    expect(DEFAULT_CLOCK_SKEW).toEqual({ maxFutureSeconds: 300 });
    expect(isFromFuture({ ...good, timestamp: Date.UTC(9999, 11, 31) }, NOW, DEFAULT_CLOCK_SKEW)).toBe(true);
    expect(isFromFuture({ ...good, timestamp: NOW + 300_000 }, NOW, DEFAULT_CLOCK_SKEW)).toBe(false);
  });
});

describe("clock-skew config", () => {
  it("defaults to 5 minutes", () => {
    expect(ClockSkewSchema.parse({})).toEqual(DEFAULT_CLOCK_SKEW);
  });

  it.each([[{ maxFutureSeconds: -1 }], [{ maxFutureSeconds: 1.5 }], [{ maxFutureSeconds: 86_401 }], [{ skew: 300 }]])(
    "rejects %j",
    (config) => {
      expect(ClockSkewSchema.safeParse(config).success).toBe(false);
    },
  );
});
