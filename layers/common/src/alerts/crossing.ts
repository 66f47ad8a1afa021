// Price zones and threshold crossings. Pure and exact: prices and thresholds are decimal strings.
import * as z from "zod";
import { compareDecimal, isDecimalString } from "../decimal";
import { InstrumentSchema } from "../instruments";

const threshold = z.string().refine(isDecimalString, "must be a plain non-negative decimal string");

export const ThresholdPairSchema = z
  .object({ high: threshold, low: threshold })
  .strict()
  // zod runs an object refinement even when a field failed, hence the guard.
  .refine((t) => isDecimalString(t.low) && isDecimalString(t.high) && compareDecimal(t.low, t.high) < 0, {
    message: "low must be below high",
  });

export type ThresholdPair = z.infer<typeof ThresholdPairSchema>;

/** The seed's pair: alert above 150 and below 50 unless a symbol has its own. */
export const DEFAULT_THRESHOLDS: ThresholdPair = { high: "150", low: "50" };

/** The SSM parameter `alert-thresholds`: {"default":{"high","low"},"symbols":{"BTC-USD":{"high","low"}}}. */
export const AlertThresholdsSchema = z
  .object({
    default: ThresholdPairSchema.default(DEFAULT_THRESHOLDS),
    symbols: z.record(InstrumentSchema.shape.symbol, ThresholdPairSchema).default({}),
  })
  .strict();

export type AlertThresholds = z.infer<typeof AlertThresholdsSchema>;

export function thresholdsFor(config: AlertThresholds, symbol: string): ThresholdPair {
  return config.symbols[symbol] ?? config.default;
}

export const ZONES = ["BELOW_LOW", "BETWEEN", "ABOVE_HIGH"] as const;
export type Zone = (typeof ZONES)[number];

/** A price exactly on a threshold is still BETWEEN: only a strict excursion counts. */
export function zoneOf(price: string, t: ThresholdPair): Zone {
  if (compareDecimal(price, t.high) > 0) return "ABOVE_HIGH";
  if (compareDecimal(price, t.low) < 0) return "BELOW_LOW";
  return "BETWEEN";
}

export interface Crossing {
  readonly from: Zone;
  readonly to: Zone;
  readonly direction: "UP" | "DOWN";
  /** The threshold nearest the new price among those crossed: high when entering or leaving ABOVE_HIGH. */
  readonly threshold: string;
}

/** The crossing from one zone to the zone of `price`, or null when the zone is unchanged. */
export function crossing(from: Zone, price: string, t: ThresholdPair): Crossing | null {
  const to = zoneOf(price, t);
  if (to === from) return null;
  const direction = ZONES.indexOf(to) > ZONES.indexOf(from) ? "UP" : "DOWN";
  const threshold = direction === "UP" ? (to === "ABOVE_HIGH" ? t.high : t.low) : to === "BELOW_LOW" ? t.low : t.high;
  return { from, to, direction, threshold };
}
