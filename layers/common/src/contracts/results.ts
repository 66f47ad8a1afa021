// What the Validate and Enrich states return: the recorder reads both from $.processed and parses them here.
import * as z from "zod";
import { InstrumentSchema } from "../instruments";
import { CancelCommandSchema, LimitCommandSchema, MarketCommandSchema, type TopOfBook } from "../orderbook/types";
import { Currency, Decimal, Identifier, InstrumentSymbol, IsoUtcTimestamp, PositiveDecimal } from "./fields";
import { CancelRequestSchema, OrderSchema } from "./orders";
import { ReportedTradeSchema } from "./trades";

export const ValidationChecksSchema = z.object({
  /** The LAST_TRADE price the band was checked against; null when there was none or no band applies. */
  lastTradePrice: PositiveDecimal.nullable(),
  /** Rules that could not be applied, each with why, e.g. "priceBand: no last trade price recorded for AAPL". */
  skipped: z.array(z.string()),
});
export type ValidationChecks = z.infer<typeof ValidationChecksSchema>;

const validatedMeta = {
  eventId: Identifier,
  source: z.string(),
  detailType: z.string(),
  eventTime: IsoUtcTimestamp,
  checks: ValidationChecksSchema,
};

export const ValidatedEventSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("ORDER_SUBMIT"),
    ...validatedMeta,
    order: OrderSchema,
    command: z.discriminatedUnion("type", [LimitCommandSchema, MarketCommandSchema]),
  }),
  z.object({
    kind: z.literal("ORDER_CANCEL"),
    ...validatedMeta,
    cancel: CancelRequestSchema,
    command: CancelCommandSchema,
  }),
  z.object({ kind: z.literal("TRADE"), ...validatedMeta, trade: ReportedTradeSchema }),
]);
export type ValidatedEvent = z.output<typeof ValidatedEventSchema>;

const BookLevelSchema = z.object({
  price: PositiveDecimal,
  quantity: PositiveDecimal,
  orders: z.number().int().positive(),
  cumulativeQuantity: PositiveDecimal,
});

export const TopOfBookSchema = z.object({
  symbol: InstrumentSymbol,
  bid: BookLevelSchema.nullable(),
  ask: BookLevelSchema.nullable(),
  lastTradePrice: PositiveDecimal.nullable(),
}) satisfies z.ZodType<TopOfBook>;

export const NotionalSchema = z.object({ amount: PositiveDecimal, currency: Currency });

export const FeesSchema = z.object({
  currency: Currency,
  makerBps: Decimal,
  takerBps: Decimal,
  /** notional * makerBps / 10 000, rounded half up to the schedule's decimals. */
  maker: Decimal,
  taker: Decimal,
});

export const EnrichmentSchema = z.object({
  instrument: InstrumentSchema.optional(),
  notional: NotionalSchema.optional(),
  fees: FeesSchema.optional(),
  /** The trading session at the event's time: a configured window name, "CLOSED" or "CONTINUOUS". */
  session: z.string(),
  topOfBook: TopOfBookSchema.optional(),
  /** Every optional field left out or filled with a fallback, each with why, e.g. "topOfBook: redis unavailable". */
  defaulted: z.array(z.string()),
});
export type Enrichment = z.infer<typeof EnrichmentSchema>;
export type Fees = z.infer<typeof FeesSchema>;
