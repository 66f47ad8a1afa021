// The instrument registry: one definition read by the engine (tick and lot grid) and the validator (limits, bands).
import * as z from "zod";
import { compareDecimal, formatScaled, isDecimalString, MAX_UNITS, multiply, parseDecimal, toUnits } from "../decimal";

const decimal = z.string().refine(isDecimalString, "must be a plain positive decimal string");

/** What the engine does when an order would trade against a resting order of the same client. */
export const STP_MODES = ["NONE", "CANCEL_NEWEST", "CANCEL_OLDEST", "CANCEL_BOTH", "DECREMENT_AND_CANCEL"] as const;
export type StpMode = (typeof STP_MODES)[number];

const SIZES = ["tickSize", "lotSize", "maxQuantity", "maxNotional"] as const;

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
    /**
     * The self-trade prevention mode of an order that does not name one: NONE lets it trade with its own client's
     * resting order; CANCEL_NEWEST cancels the incoming order, CANCEL_OLDEST the resting one, CANCEL_BOTH both;
     * DECREMENT_AND_CANCEL reduces both by the smaller quantity and cancels the smaller.
     */
    selfTradePrevention: z.enum(STP_MODES).default("CANCEL_NEWEST"),
  })
  .strict()
  // The engine trades in whole ticks and lots: a limit it cannot state in them would be checked wrongly or not at
  // all, so such an instrument is refused when loaded.
  .superRefine((i, ctx) => {
    const refuse = (field: (typeof SIZES)[number], message: string) =>
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: `instrument ${i.symbol}: ${field} ${i[field]} ${message}`,
      });
    // A size that is not a decimal at all has its own issue already.
    if (!SIZES.every((field) => isDecimalString(i[field]))) return;
    const zero = SIZES.filter((field) => parseDecimal(i[field])?.digits === 0n);
    for (const field of zero) refuse(field, "must be positive");
    if (zero.length) return;
    for (const field of ["tickSize", "lotSize"] as const) {
      if (!toUnits(i[field], i[field], 1n).ok) refuse(field, "has too many digits");
    }
    const lots = toUnits(i.maxQuantity, i.lotSize, MAX_UNITS);
    if (!lots.ok && lots.reason === "TOO_LARGE") refuse("maxQuantity", `is more than ${MAX_UNITS} lots`);
    else if (!lots.ok) refuse("maxQuantity", `is not a whole multiple of lotSize ${i.lotSize}`);
    const tickLot = multiply(i.tickSize, i.lotSize);
    if (compareDecimal(i.maxNotional, tickLot) < 0) refuse("maxNotional", `is below one tick × one lot (${tickLot})`);
  });

export type Instrument = z.infer<typeof InstrumentSchema>;

export const InstrumentListSchema = z
  .array(InstrumentSchema)
  .min(1)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach(({ symbol }, index) => {
      if (seen.has(symbol))
        ctx.addIssue({ code: "custom", path: [index, "symbol"], message: `duplicate symbol ${symbol}` });
      seen.add(symbol);
    });
  });

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
    selfTradePrevention: "CANCEL_NEWEST",
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
    selfTradePrevention: "CANCEL_NEWEST",
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
    selfTradePrevention: "CANCEL_NEWEST",
  },
];
