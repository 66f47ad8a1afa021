// The Enrich state: reference data, exact notional and fees, trading session and top of book for an event.
// It never fails: whatever it cannot get is left out and listed, with why, in `defaulted`.
import { type Enrichment, type Fees, type NormalizedEvent, parseEvent, preview, symbolOf } from "../contracts";
import { multiply } from "../decimal";
import type { Instrument, InstrumentRegistry } from "../instruments";
import { MatchingEngine, type TopOfBook } from "../orderbook";
import type { RedisConnection } from "../redis";
import { CONTINUOUS, type FeeSchedule, feesFor, sessionAt, type TradingSessions } from "./reference";

export * from "./reference";

/** What enrichment reads; the handler wires SSM and Redis, tests wire whatever they need. */
export interface EnrichmentSources {
  instruments(): Promise<InstrumentRegistry>;
  feeSchedule(): Promise<FeeSchedule>;
  tradingSessions(): Promise<TradingSessions>;
  topOfBook(symbol: string, instruments: InstrumentRegistry): Promise<TopOfBook>;
}

export interface EnrichmentOptions {
  /** Top of book is nice to have: past this deadline it is defaulted rather than waited for. */
  readonly topOfBookTimeoutMs?: number;
}

export const DEFAULT_TOP_OF_BOOK_TIMEOUT_MS = 1000;

type Read<T> = { ok: true; value: T } | { ok: false; why: string };

function why(err: unknown): string {
  const text = err instanceof Error ? err.message : preview(err);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

async function read<T>(source: () => Promise<T>, timeoutMs?: number): Promise<Read<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    if (timeoutMs !== undefined)
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return { ok: true, value: await Promise.race([source(), deadline]) };
  } catch (err) {
    return { ok: false, why: why(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Notional in the quote currency, or why there is none. Cancels and amends have none and need no excuse. */
function notionalOf(
  event: NormalizedEvent,
  instrument: Instrument | undefined,
): Read<{ amount: string; currency: string }> | null {
  switch (event.kind) {
    case "ORDER_CANCEL":
    case "ORDER_AMEND":
    case "ORDER_CANCEL_ALL":
      return null;
    case "TRADE":
      return {
        ok: true,
        value: { amount: multiply(event.trade.price, event.trade.quantity), currency: event.trade.currency },
      };
    case "ORDER_SUBMIT":
      if (event.order.price === null) return { ok: false, why: "a market order has no price" };
      if (!instrument) return { ok: false, why: "the quote currency needs a listed instrument" };
      return {
        ok: true,
        value: { amount: multiply(event.order.price, event.order.quantity), currency: instrument.quoteCurrency },
      };
  }
}

export async function enrichEvent(
  input: unknown,
  sources: EnrichmentSources,
  options: EnrichmentOptions = {},
): Promise<Enrichment> {
  const parsed = parseEvent(input);
  if (!parsed.ok) {
    const reasons = [...new Set(parsed.violations.map((v) => v.reason))].join(", ");
    return {
      session: CONTINUOUS,
      defaulted: [`event: not a valid order or trade event (${reasons}); nothing to enrich`],
    };
  }
  const event = parsed.event;
  const symbol = symbolOf(event);
  // A mass cancel over every symbol: nothing to enrich, and nothing left out.
  if (symbol === null) return { session: CONTINUOUS, defaulted: [] };
  const [registry, schedule, sessions] = await Promise.all([
    read(() => sources.instruments()),
    read(() => sources.feeSchedule()),
    read(() => sources.tradingSessions()),
  ]);
  const instrument = registry.ok ? registry.value.get(symbol) : undefined;
  const book: Read<TopOfBook> =
    registry.ok && instrument
      ? await read(
          () => sources.topOfBook(symbol, registry.value),
          options.topOfBookTimeoutMs ?? DEFAULT_TOP_OF_BOOK_TIMEOUT_MS,
        )
      : { ok: false, why: "needs a listed instrument" };

  const defaulted: string[] = [];
  if (!instrument) {
    const why = registry.ok ? `${symbol} is not listed` : `instruments config unavailable: ${registry.why}`;
    defaulted.push(`instrument: ${why}`);
  }
  const notional = notionalOf(event, instrument);
  let fees: Fees | undefined;
  if (notional?.ok) {
    if (schedule.ok) fees = feesFor(symbol, notional.value.amount, notional.value.currency, schedule.value);
    else defaulted.push(`fees: fee-schedule config unavailable: ${schedule.why}`);
  } else if (notional) {
    defaulted.push(`notional: ${notional.why}`, "fees: no notional to charge on");
  }
  const time = event.kind === "TRADE" ? event.trade.executedAt : event.eventTime;
  if (!sessions.ok)
    defaulted.push(`session: trading-sessions config unavailable, assumed ${CONTINUOUS}: ${sessions.why}`);
  if (!book.ok) defaulted.push(`topOfBook: ${book.why}`);
  return {
    ...(instrument && { instrument }),
    ...(notional?.ok && { notional: notional.value }),
    ...(fees && { fees }),
    session: sessions.ok ? sessionAt(time, sessions.value[symbol]) : CONTINUOUS,
    ...(book.ok && { topOfBook: book.value }),
    defaulted,
  };
}

/** The real top-of-book source: the matching engine's query API on the container's Redis connection. */
export function topOfBookFromEngine(redis: () => Promise<RedisConnection>): EnrichmentSources["topOfBook"] {
  return async (symbol, instruments) => new MatchingEngine({ redis: await redis(), instruments }).topOfBook(symbol);
}
