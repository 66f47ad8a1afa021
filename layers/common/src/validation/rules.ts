// Business rules from the instrument registry and the last trade price. Pure: the caller fetches both.
import { type NormalizedEvent, symbolOf, type ValidationChecks, type Violation } from "../contracts";
import { compareDecimal, formatScaled, multiply, parseDecimal, toUnits } from "../decimal";
import type { Instrument } from "../instruments";

export interface RuleOutcome {
  readonly violations: Violation[];
  readonly checks: ValidationChecks;
}

// Sizes are bounded by maxQuantity and maxNotional below; the grid check itself needs no cap.
const NO_UNIT_CAP = 10n ** 40n;
const BPS = 10_000n;

function offGrid(value: string, step: string): boolean {
  return !toUnits(value, step, NO_UNIT_CAP).ok;
}

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

interface Priced {
  readonly path: string;
  readonly price: string | null;
  readonly quantity: string;
}

/** Grid, size, notional and band rules shared by orders and trades. */
function sizeAndPrice(subject: Priced, instrument: Instrument, lastTradePrice: string | null): RuleOutcome {
  const { path, price, quantity } = subject;
  const violations: Violation[] = [];
  const skipped: string[] = [];
  const { symbol, lotSize, tickSize, maxQuantity, maxNotional, priceBandBps } = instrument;

  if (offGrid(quantity, lotSize)) {
    violations.push({
      reason: "QUANTITY_OFF_LOT",
      path: `${path}.quantity`,
      text: `${quantity} is not a multiple of the lot size ${lotSize}`,
    });
  }
  if (compareDecimal(quantity, maxQuantity) > 0) {
    violations.push({
      reason: "QUANTITY_TOO_LARGE",
      path: `${path}.quantity`,
      text: `${quantity} exceeds the maximum ${maxQuantity} for ${symbol}`,
    });
  }
  if (price !== null && offGrid(price, tickSize)) {
    violations.push({
      reason: "PRICE_OFF_TICK",
      path: `${path}.price`,
      text: `${price} is not a multiple of the tick size ${tickSize}`,
    });
  }

  const notionalPrice = price ?? lastTradePrice;
  if (notionalPrice === null) {
    skipped.push(`notional: a market order has no price and there is no last trade price for ${symbol}`);
  } else {
    const notional = multiply(notionalPrice, quantity);
    if (compareDecimal(notional, maxNotional) > 0) {
      const basis = price === null ? ` (estimated at the last trade price ${lastTradePrice})` : "";
      violations.push({
        reason: "NOTIONAL_TOO_LARGE",
        path,
        text: `notional ${notional}${basis} exceeds the maximum ${maxNotional} for ${symbol}`,
      });
    }
  }

  if (price !== null) {
    if (lastTradePrice === null) {
      skipped.push(`priceBand: no last trade price recorded for ${symbol}`);
    } else {
      const { lower, upper } = priceBand(lastTradePrice, priceBandBps);
      if (compareDecimal(price, lower) < 0 || compareDecimal(price, upper) > 0) {
        const text = `${price} is outside ${lower}..${upper}, ${priceBandBps} bps around the last trade price ${lastTradePrice}`;
        violations.push({ reason: "PRICE_OUTSIDE_BAND", path: `${path}.price`, text });
      }
    }
  }
  return { violations, checks: { lastTradePrice, skipped } };
}

/**
 * Every rule that applies to the event, all reported at once. Cancels only need a listed symbol (a halted
 * instrument still accepts cancels); orders also need a TRADING instrument; trades also need the quote currency.
 */
export function applyRules(
  event: NormalizedEvent,
  instrument: Instrument | undefined,
  lastTradePrice: string | null,
): RuleOutcome {
  const symbol = symbolOf(event);
  const none: ValidationChecks = { lastTradePrice: null, skipped: [] };
  if (!instrument) {
    return {
      violations: [{ reason: "UNKNOWN_SYMBOL", path: "", text: `${symbol} is not a listed instrument` }],
      checks: none,
    };
  }
  switch (event.kind) {
    case "ORDER_CANCEL":
      return { violations: [], checks: none };
    case "ORDER_SUBMIT": {
      const outcome = sizeAndPrice({ path: "order", ...event.order }, instrument, lastTradePrice);
      if (instrument.status === "TRADING") return outcome;
      const halted: Violation = {
        reason: "INSTRUMENT_NOT_TRADING",
        path: "order.symbol",
        text: `${symbol} is ${instrument.status}; new orders are refused`,
      };
      return { ...outcome, violations: [halted, ...outcome.violations] };
    }
    case "TRADE": {
      const outcome = sizeAndPrice({ path: "trade", ...event.trade }, instrument, lastTradePrice);
      if (event.trade.currency === instrument.quoteCurrency) return outcome;
      const text = `${event.trade.currency} is not ${symbol}'s quote currency ${instrument.quoteCurrency}`;
      return {
        ...outcome,
        violations: [{ reason: "CURRENCY_MISMATCH", path: "trade.currency", text }, ...outcome.violations],
      };
    }
  }
}
