// What the Validate and Enrich states return: the recorder reads both from $.processed and parses them here.
import * as z from "zod";
import { InstrumentSchema } from "../instruments";
import {
  AmendCommandSchema,
  CancelAllCommandSchema,
  CancelCommandSchema,
  LimitCommandSchema,
  MarketCommandSchema,
  type TopOfBook,
} from "../orderbook/types";
import { Currency, Decimal, Identifier, InstrumentSymbol, IsoUtcTimestamp, PositiveDecimal } from "./fields";
import { AmendRequestSchema, CancelAllRequestSchema, CancelRequestSchema, OrderSchema } from "./orders";
import { ReportedTradeSchema } from "./trades";

export const ValidationChecksSchema = z.object({
  /** Rules left to the step that holds the state they need, each with why, e.g. "priceBand: ... the engine". */
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
  z.object({
    kind: z.literal("ORDER_AMEND"),
    ...validatedMeta,
    amend: AmendRequestSchema,
    command: AmendCommandSchema,
  }),
  z.object({
    kind: z.literal("ORDER_CANCEL_ALL"),
    ...validatedMeta,
    cancelAll: CancelAllRequestSchema,
    command: CancelAllCommandSchema,
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

/** The first decision recorded for a venue trade: a redelivery is answered with it, never decided again. */
export const VenueTradeDecisionSchema = z.discriminatedUnion("outcome", [
  z.object({ outcome: z.literal("ACCEPTED") }),
  z.object({ outcome: z.literal("REJECTED"), reasons: z.array(z.string()).min(1), message: z.string() }),
]);
export type VenueTradeDecision = z.infer<typeof VenueTradeDecisionSchema>;

/** What the Record and RecordRejection states return ($.recorded). */
export const RecordSummarySchema = z.object({
  outcome: z.enum(["RECORDED", "DUPLICATE", "CONFLICT"]),
  eventId: z.string(),
  /** Items this invocation wrote: 0 for a replay. */
  written: z.number().int().nonnegative(),
  /** Items found already recorded with the same content, or order states already as new. */
  duplicates: z.number().int().nonnegative(),
  conflicts: z.array(z.string()),
  published: z.number().int().nonnegative(),
  ticks: z.number().int().nonnegative(),
  /** DynamoDB requests this invocation made. */
  dynamoCalls: z.number().int().nonnegative(),
  counts: z.object({
    orders: z.number().int().nonnegative(),
    trades: z.number().int().nonnegative(),
    rejections: z.number().int().nonnegative(),
  }),
});
export type RecordSummary = z.infer<typeof RecordSummarySchema>;
export type RecordOutcome = RecordSummary["outcome"];
