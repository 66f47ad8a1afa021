// The enricher's SSM configuration (fee-schedule, trading-sessions) and the exact arithmetic on it.
import * as z from "zod";
import { type Fees, InstrumentSymbol } from "../contracts";
import { compareDecimal, divideRounded, isDecimalString, parseDecimal } from "../decimal";

const Bps = z
  .string()
  .refine((v) => isDecimalString(v) && compareDecimal(v, "10000") <= 0, "basis points: a decimal string 0..10000");

const FeeRateSchema = z.strictObject({ makerBps: Bps, takerBps: Bps });

/** SSM `fee-schedule`: maker/taker basis points per instrument, with a default for unlisted ones. */
export const FeeScheduleSchema = z.strictObject({
  /** Fee amounts are rounded half up to this many decimals of the quote currency. */
  decimals: z.number().int().min(0).max(12),
  default: FeeRateSchema,
  instruments: z.record(InstrumentSymbol, FeeRateSchema).default({}),
});
export type FeeSchedule = z.output<typeof FeeScheduleSchema>;

const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const;
const Clock = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, "HH:MM in UTC, 00:00..24:00");

const SessionWindowSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/),
    days: z.array(z.enum(DAYS)).min(1),
    open: Clock,
    close: Clock,
  })
  // HH:MM strings order like times; an overnight session is written as two windows split at midnight.
  .refine((w) => w.open < w.close, "open must be before close");

/**
 * SSM `trading-sessions`: named UTC windows per instrument. An instrument with windows is "CLOSED" outside
 * them; an instrument without an entry trades around the clock ("CONTINUOUS").
 */
export const TradingSessionsSchema = z.record(InstrumentSymbol, z.array(SessionWindowSchema).min(1));
export type TradingSessions = z.output<typeof TradingSessionsSchema>;

export const CONTINUOUS = "CONTINUOUS";
export const CLOSED = "CLOSED";

export function sessionAt(time: string, windows: TradingSessions[string] | undefined): string {
  if (!windows) return CONTINUOUS;
  const date = new Date(time);
  const day = DAYS[date.getUTCDay()]!;
  const clock = date.toISOString().slice(11, 16);
  return windows.find((w) => w.days.includes(day) && w.open <= clock && clock < w.close)?.name ?? CLOSED;
}

/** notional * bps / 10 000, rounded half up to `decimals`; exact BigInt arithmetic throughout. */
export function feeAmount(notional: string, bps: string, decimals: number): string {
  const n = parseDecimal(notional);
  const b = parseDecimal(bps);
  if (!n || !b) throw new Error(`invalid fee operands ${notional} * ${bps} bps`);
  return divideRounded(n.digits * b.digits, 10n ** BigInt(n.scale + b.scale) * 10_000n, decimals);
}

export function feesFor(symbol: string, notional: string, currency: string, schedule: FeeSchedule): Fees {
  const rate = schedule.instruments[symbol] ?? schedule.default;
  return {
    currency,
    makerBps: rate.makerBps,
    takerBps: rate.takerBps,
    maker: feeAmount(notional, rate.makerBps, schedule.decimals),
    taker: feeAmount(notional, rate.takerBps, schedule.decimals),
  };
}

const WEEKDAYS: (typeof DAYS)[number][] = ["MON", "TUE", "WED", "THU", "FRI"];

/** The local stack's and the template's defaults for `fee-schedule`. */
export const SAMPLE_FEE_SCHEDULE: z.input<typeof FeeScheduleSchema> = {
  decimals: 2,
  default: { makerBps: "1", takerBps: "2.5" },
  instruments: {
    "BTC-USD": { makerBps: "2", takerBps: "5" },
    "ETH-USD": { makerBps: "2", takerBps: "5" },
  },
};

/** The local stack's and the template's defaults for `trading-sessions`: US equity hours in UTC (EDT). */
export const SAMPLE_TRADING_SESSIONS: z.input<typeof TradingSessionsSchema> = {
  AAPL: [
    { name: "PRE_MARKET", days: WEEKDAYS, open: "08:00", close: "13:30" },
    { name: "REGULAR", days: WEEKDAYS, open: "13:30", close: "20:00" },
    { name: "AFTER_HOURS", days: WEEKDAYS, open: "20:00", close: "24:00" },
  ],
};
