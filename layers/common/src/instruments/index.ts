// The instrument registry: one definition read by the engine (tick and lot grid) and the validator (limits, bands).
import * as z from "zod";
import { formatScaled, isDecimalString, parseDecimal } from "../decimal";

const decimal = z.string().refine(isDecimalString, "must be a plain positive decimal string");

export const InstrumentSchema = z
  .object({
    symbol: z.string().regex(/^[A-Z0-9][A-Z0-9.-]{0,15}$/),
    baseCurrency: z.string().regex(/^[A-Z]{3,5}$/),
    quoteCurrency: z.string().regex(/^[A-Z]{3,5}$/),
    tickSize: decimal,
    lotSize: decimal,
    status: z.enum(["TRADING", "HALTED", "CLOSED"]),
    maxQuantity: decimal,
    maxNotional: decimal,
    /** Allowed distance of a limit price from the last trade price, in basis points. */
    priceBandBps: z.number().int().positive().max(100_000),
  })
  .strict();

export type Instrument = z.infer<typeof InstrumentSchema>;

export const InstrumentListSchema = z.array(InstrumentSchema).min(1);

const BPS = 10_000n;

/** The inclusive band around `last`, exact: last * (1 -/+ bps / 10 000), floored at zero. */
export function priceBand(last: string, bps: number): { lower: string; upper: string } {
  const l = parseDecimal(last);
  if (!l) throw new Error(`invalid last trade price ${last}`);
  const width = BigInt(bps);
  const lowerFactor = width >= BPS ? 0n : BPS - width;
  return {
    lower: formatScaled(l.digits * lowerFactor, l.scale + 4),
    upper: formatScaled(l.digits * (BPS + width), l.scale + 4),
  };
}

export type InstrumentRegistry = ReadonlyMap<string, Instrument>;

export function instrumentRegistry(instruments: readonly Instrument[]): InstrumentRegistry {
  return new Map(instruments.map((i) => [i.symbol, i]));
}

/** The instruments the local stack, the demo and the tests trade; template.yaml's SSM default holds the same list. */
export const SAMPLE_INSTRUMENTS: readonly Instrument[] = [
  {
    symbol: "BTC-USD",
    baseCurrency: "BTC",
    quoteCurrency: "USD",
    tickSize: "0.01",
    lotSize: "0.0001",
    status: "TRADING",
    maxQuantity: "100",
    maxNotional: "5000000",
    priceBandBps: 1000,
  },
  {
    symbol: "ETH-USD",
    baseCurrency: "ETH",
    quoteCurrency: "USD",
    tickSize: "0.01",
    lotSize: "0.001",
    status: "TRADING",
    maxQuantity: "1000",
    maxNotional: "2000000",
    priceBandBps: 1000,
  },
  {
    symbol: "AAPL",
    baseCurrency: "AAPL",
    quoteCurrency: "USD",
    tickSize: "0.01",
    lotSize: "1",
    status: "TRADING",
    maxQuantity: "100000",
    maxNotional: "10000000",
    priceBandBps: 500,
  },
];
