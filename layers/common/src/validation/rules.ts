// Business rules from the instrument registry, and times no later than the clock skew allows. Pure and stateless:
// a rule that needs the last trade price is left to the step that holds it (the engine for orders, the recorder for
// venue trades), so a redelivery is decided the same.
import { type ClockSkew, latestAcceptedTime } from "../config/clock";
import { type NormalizedEvent, symbolOf, type ValidationChecks, type Violation } from "../contracts";
import { compareDecimal, multiply, toUnits } from "../decimal";
import type { Instrument } from "../instruments";

export interface RuleOutcome {
  readonly violations: Violation[];
  readonly checks: ValidationChecks;
}

// Sizes are bounded by maxQuantity and maxNotional below; the grid check itself needs no cap.
const NO_UNIT_CAP = 10n ** 40n;

function offGrid(value: string, step: string): boolean {
  return !toUnits(value, step, NO_UNIT_CAP).ok;
}

interface Priced {
  readonly path: string;
  readonly price: string | null;
  readonly quantity: string | null;
}

/** Grid, size, notional and band rules shared by orders and trades. */
function sizeAndPrice(subject: Priced, instrument: Instrument): RuleOutcome {
  const { path, price, quantity } = subject;
  const violations: Violation[] = [];
  const skipped: string[] = [];
  const { symbol, lotSize, tickSize, maxQuantity, maxNotional } = instrument;

  if (quantity !== null && offGrid(quantity, lotSize)) {
    violations.push({
      reason: "QUANTITY_OFF_LOT",
      path: `${path}.quantity`,
      text: `${quantity} is not a multiple of the lot size ${lotSize}`,
    });
  }
  if (quantity !== null && compareDecimal(quantity, maxQuantity) > 0) {
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

  if (price === null) {
    skipped.push("notional: a market order's is checked by the matching engine at its last trade price");
  } else if (quantity === null || path === "amend") {
    skipped.push("notional: an amend's is checked by the matching engine, which holds the order's price and quantity");
  } else {
    const notional = multiply(price, quantity);
    if (compareDecimal(notional, maxNotional) > 0) {
      violations.push({
        reason: "NOTIONAL_TOO_LARGE",
        path,
        text: `notional ${notional} exceeds the maximum ${maxNotional} for ${symbol}`,
      });
    }
  }
  skipped.push(
    path !== "trade"
      ? "priceBand: checked by the matching engine against its own last trade price"
      : "priceBand: checked once by the recorder against the engine's last trade price",
  );
  return { violations, checks: { skipped } };
}

/**
 * Every rule that applies to the event, all reported at once. Cancels only need a listed symbol (a halted
 * instrument still accepts cancels, and a mass cancel over every symbol needs none); orders and amends also need
 * a TRADING instrument; trades also need the quote currency. `instrument` is null when the event names no symbol.
 */
export function applyRules(event: NormalizedEvent, instrument: Instrument | null | undefined): RuleOutcome {
  const symbol = symbolOf(event);
  const none: ValidationChecks = { skipped: [] };
  if (instrument === null) return { violations: [], checks: none };
  if (!instrument) {
    return {
      violations: [{ reason: "UNKNOWN_SYMBOL", path: "", text: `${symbol} is not a listed instrument` }],
      checks: none,
    };
  }
  switch (event.kind) {
    case "ORDER_CANCEL":
    case "ORDER_CANCEL_ALL":
      return { violations: [], checks: none };
    case "ORDER_SUBMIT":
    case "ORDER_AMEND": {
      const outcome =
        event.kind === "ORDER_SUBMIT"
          ? sizeAndPrice({ path: "order", ...event.order }, instrument)
          : sizeAndPrice({ path: "amend", ...event.amend }, instrument);
      if (instrument.status === "TRADING") return outcome;
      const halted: Violation = {
        reason: "INSTRUMENT_NOT_TRADING",
        path: "order.symbol",
        text: `${symbol} is ${instrument.status}; new orders are refused`,
      };
      return { ...outcome, violations: [halted, ...outcome.violations] };
    }
    case "TRADE": {
      const outcome = sizeAndPrice({ path: "trade", ...event.trade }, instrument);
      if (event.trade.currency === instrument.quoteCurrency) return outcome;
      const text = `${event.trade.currency} is not ${symbol}'s quote currency ${instrument.quoteCurrency}`;
      return {
        ...outcome,
        violations: [{ reason: "CURRENCY_MISMATCH", path: "trade.currency", text }, ...outcome.violations],
      };
    }
  }
}

/**
 * The envelope time, and a trade's execution time, may lie at most the clock skew after `now`. The one rule that
 * depends on when it runs: an event refused for it could pass if redelivered much later, never the other way round.
 */
export function futureTimestamps(event: NormalizedEvent, now: number, skew: ClockSkew): Violation[] {
  const latest = latestAcceptedTime(now, skew);
  const stamped: [path: string, time: string][] = [["time", event.eventTime]];
  if (event.kind === "TRADE") stamped.push(["trade.executedAt", event.trade.executedAt]);
  return stamped
    .filter(([, time]) => Date.parse(time) > latest)
    .map(([path, time]) => ({
      reason: "INVALID_TIMESTAMP",
      path,
      text: `${time} is more than ${skew.maxFutureSeconds} s after the validator's clock (${new Date(now).toISOString()})`,
    }));
}
