// Trade reports from three venues with their own shapes, all normalized to one ReportedTrade.
import * as z from "zod";
import { formatScaled, parseDecimal } from "../decimal";
import { SIDES } from "../orderbook/types";
import { VENUES, type Venue } from "./envelope";
import type { Violation } from "./errors";
import {
  Currency,
  canonicalDecimal,
  EpochMillis,
  Identifier,
  InstrumentSymbol,
  IsoOffsetTimestamp,
  IsoUtcTimestamp,
  MinorUnits,
  PositiveDecimal,
  Scale,
  utcMillis,
  violationsFrom,
} from "./fields";

/** alpha: camelCase, decimal strings, epoch-millisecond timestamps. */
export const AlphaTradeSchema = z.strictObject({
  tradeId: Identifier,
  symbol: InstrumentSymbol,
  side: z.enum(SIDES),
  price: PositiveDecimal,
  quantity: PositiveDecimal,
  currency: Currency,
  executedAt: EpochMillis,
  sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

/** beta: snake_case, integers in minor units with a scale (price = price_minor / 10^price_scale), ISO 8601 UTC. */
export const BetaTradeSchema = z.strictObject({
  trade_id: Identifier,
  instrument_id: InstrumentSymbol,
  aggressor: z.enum(["B", "S"]),
  price_minor: MinorUnits,
  price_scale: Scale,
  quantity_minor: MinorUnits,
  quantity_scale: Scale,
  currency_code: Currency,
  executed_at: IsoUtcTimestamp,
  seq_no: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

/** gamma (the seed's shape): the total `amount` paid in `currency` for `quantity`; no side; ISO 8601 with offset. */
export const GammaTradeSchema = z.strictObject({
  tradeId: Identifier,
  sourceSystem: z.literal("gamma"),
  symbol: InstrumentSymbol,
  quantity: PositiveDecimal,
  amount: PositiveDecimal,
  currency: Currency,
  tradeTime: IsoOffsetTimestamp,
});

export type AlphaTrade = z.input<typeof AlphaTradeSchema>;
export type BetaTrade = z.input<typeof BetaTradeSchema>;
export type GammaTrade = z.input<typeof GammaTradeSchema>;

/** The canonical trade a venue reported. price * quantity is exactly what the venue reported. */
export const ReportedTradeSchema = z.object({
  /** `${venue}:${venueTradeId}`: venue ids are only unique per venue. */
  tradeId: z.string().min(1).max(72),
  venue: z.enum(VENUES),
  venueTradeId: Identifier,
  symbol: InstrumentSymbol,
  /** The aggressor's side; null when the venue does not say (gamma). */
  side: z.enum(SIDES).nullable(),
  price: PositiveDecimal,
  quantity: PositiveDecimal,
  currency: Currency,
  executedAt: IsoUtcTimestamp,
  venueSequence: z.number().int().positive().nullable(),
});
export type ReportedTrade = z.infer<typeof ReportedTradeSchema>;

// A gamma price is amount / quantity; beyond this many decimals it is not a price anybody quoted.
const MAX_DERIVED_PRICE_SCALE = 18;

/** a / b exactly, if the quotient terminates within `maxScale` decimals; null otherwise. */
export function exactQuotient(a: string, b: string, maxScale = MAX_DERIVED_PRICE_SCALE): string | null {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y || y.digits === 0n) return null;
  // a / b = (x.digits * 10^y.scale) / (y.digits * 10^x.scale)
  const numerator = x.digits * 10n ** BigInt(y.scale);
  const denominator = y.digits * 10n ** BigInt(x.scale);
  for (let scale = 0; scale <= maxScale; scale++) {
    const scaled = numerator * 10n ** BigInt(scale);
    if (scaled % denominator === 0n) return formatScaled(scaled / denominator, scale);
  }
  return null;
}

export type TradeNormalization = { ok: true; trade: ReportedTrade } | { ok: false; violations: Violation[] };

type VenueFields = Omit<ReportedTrade, "tradeId" | "venue">;

function venueContract<S extends z.ZodType>(
  venue: Venue,
  schema: S,
  normalize: (detail: z.output<S>) => VenueFields | Violation,
): (detail: unknown) => TradeNormalization {
  return (detail) => {
    const parsed = schema.safeParse(detail);
    if (!parsed.success) return { ok: false, violations: violationsFrom(parsed.error, detail, "detail") };
    const fields = normalize(parsed.data);
    if ("reason" in fields) return { ok: false, violations: [fields] };
    return { ok: true, trade: { tradeId: `${venue}:${fields.venueTradeId}`, venue, ...fields } };
  };
}

/** Parses a "Trade Reported" detail of the given venue and normalizes it to the canonical trade. */
export const parseTradeDetail: Readonly<Record<Venue, (detail: unknown) => TradeNormalization>> = {
  alpha: venueContract("alpha", AlphaTradeSchema, (d) => ({
    venueTradeId: d.tradeId,
    symbol: d.symbol,
    side: d.side,
    price: canonicalDecimal(d.price),
    quantity: canonicalDecimal(d.quantity),
    currency: d.currency,
    executedAt: utcMillis(d.executedAt),
    venueSequence: d.sequence ?? null,
  })),
  beta: venueContract("beta", BetaTradeSchema, (d) => ({
    venueTradeId: d.trade_id,
    symbol: d.instrument_id,
    side: d.aggressor === "B" ? "BUY" : "SELL",
    price: formatScaled(BigInt(d.price_minor), d.price_scale),
    quantity: formatScaled(BigInt(d.quantity_minor), d.quantity_scale),
    currency: d.currency_code,
    executedAt: utcMillis(d.executed_at),
    venueSequence: d.seq_no ?? null,
  })),
  gamma: venueContract("gamma", GammaTradeSchema, (d) => {
    const price = exactQuotient(d.amount, d.quantity);
    if (price === null) {
      const text = `${d.amount} / ${d.quantity} is not an exact price (at most ${MAX_DERIVED_PRICE_SCALE} decimals)`;
      return { reason: "INCONSISTENT_AMOUNT", path: "detail.amount", text };
    }
    return {
      venueTradeId: d.tradeId,
      symbol: d.symbol,
      side: null,
      price,
      quantity: canonicalDecimal(d.quantity),
      currency: d.currency,
      executedAt: utcMillis(d.tradeTime),
      venueSequence: null,
    };
  }),
};
