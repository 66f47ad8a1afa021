import fc from "fast-check";
import { formatScaled } from "../decimal";
import {
  AlertThresholdsSchema,
  type Crossing,
  crossing,
  type ThresholdPair,
  thresholdsFor,
  type Zone,
} from "./crossing";

// Prices as integer hundredths; the oracle compares the integers, the code under test the decimal strings.
const cents = fc.bigInt({ min: 1n, max: 30_000n });
const text = (c: bigint) => formatScaled(c, 2);

function alertsOf(prices: readonly bigint[], t: ThresholdPair): (Crossing | null)[] {
  let zone: Zone = "BETWEEN";
  return prices.map((p) => {
    const change = crossing(zone, text(p), t);
    if (change) zone = change.to;
    return change;
  });
}

describe("crossing", () => {
  it("alerts exactly where a price sequence crosses a threshold, with its direction and threshold", () => {
    fc.assert(
      fc.property(cents, cents, fc.array(cents, { maxLength: 60 }), (a, b, prices) => {
        fc.pre(a !== b);
        const [low, high] = a < b ? [a, b] : [b, a];
        const t = { low: text(low), high: text(high) };
        const alerts = alertsOf(prices, t);
        prices.forEach((cur, i) => {
          const prev = i === 0 ? low : (prices[i - 1] as bigint);
          const crossed = prev > high !== cur > high || prev < low !== cur < low;
          const alert = alerts[i];
          expect(alert !== null).toBe(crossed);
          if (!alert) return;
          expect(alert.direction).toBe(cur > prev ? "UP" : "DOWN");
          const expected = cur > prev ? (cur > high ? high : low) : cur < low ? low : high;
          expect(alert.threshold).toBe(text(expected));
        });
      }),
    );
  });

  it("a repeated tick beyond a threshold does not alert again", () => {
    const t = { low: "50", high: "150" };
    expect(alertsOf([151n * 100n, 160n * 100n, 151n * 100n], t).map((a) => a?.direction ?? null)).toEqual([
      "UP",
      null,
      null,
    ]);
  });

  it("treats a price exactly on a threshold as between, comparing exactly", () => {
    const t = { low: "50", high: "150" };
    expect(crossing("BETWEEN", "150.00", t)).toBeNull();
    expect(crossing("BETWEEN", "150.0000000000000000001", t)).toMatchObject({ to: "ABOVE_HIGH", threshold: "150" });
    expect(crossing("BETWEEN", "49.999999999999999999", t)).toMatchObject({ to: "BELOW_LOW", direction: "DOWN" });
    expect(crossing("ABOVE_HIGH", "10", t)).toEqual({
      from: "ABOVE_HIGH",
      to: "BELOW_LOW",
      direction: "DOWN",
      threshold: "50",
    });
  });
});

describe("alert-thresholds config", () => {
  it("defaults to the seed's 150 / 50 pair and takes per-symbol overrides", () => {
    const config = AlertThresholdsSchema.parse({ symbols: { "BTC-USD": { high: "70000", low: "20000.5" } } });
    expect(thresholdsFor(config, "AAPL")).toEqual({ high: "150", low: "50" });
    expect(thresholdsFor(config, "BTC-USD")).toEqual({ high: "70000", low: "20000.5" });
  });

  it.each([
    [{ default: { high: "50", low: "150" } }],
    [{ default: { high: "150", low: "150" } }],
    [{ default: { high: "1e3", low: "1" } }],
    [{ default: { high: 150, low: 50 } }],
    [{ symbols: { "btc usd": { high: "2", low: "1" } } }],
    [{ unknown: true }],
  ])("rejects %j", (config) => {
    expect(AlertThresholdsSchema.safeParse(config).success).toBe(false);
  });
});
