// The Validate state: structure first (contracts), then the business rules against SSM configuration. It reads
// no table: every event that must not proceed raises ValidationRejected, and a redelivery is decided the same
// (but for a time in the future, which a much later redelivery could find in the past).
import { type ClockSkew, DEFAULT_CLOCK_SKEW } from "../config/clock";
import {
  parseEvent,
  symbolOf,
  toAmendCommand,
  toCancelAllCommand,
  toCancelCommand,
  toOrderCommand,
  type ValidatedEvent,
  ValidationRejected,
} from "../contracts";
import type { InstrumentRegistry } from "../instruments";
import { applyRules, futureTimestamps } from "./rules";

export { applyRules, futureTimestamps, type RuleOutcome } from "./rules";

/** What validation reads; the handler wires SSM and the system clock, tests wire whatever they need. */
export interface ValidationSources {
  instruments(): Promise<InstrumentRegistry>;
  /** Absent: DEFAULT_CLOCK_SKEW (5 minutes). */
  clockSkew?(): Promise<ClockSkew>;
  /** Epoch milliseconds; absent: Date.now(). */
  now?(): number;
}

/**
 * The validated, normalized event with the matcher's command for orders. Throws ValidationRejected for any
 * bad input; other errors (configuration unavailable) propagate for the state machine to handle.
 */
export async function validateEvent(input: unknown, sources: ValidationSources): Promise<ValidatedEvent> {
  const parsed = parseEvent(input);
  if (!parsed.ok) throw new ValidationRejected(parsed.violations);
  const event = parsed.event;
  const symbol = symbolOf(event);
  const [registry, skew] = await Promise.all([sources.instruments(), sources.clockSkew?.() ?? DEFAULT_CLOCK_SKEW]);
  const { violations: broken, checks } = applyRules(event, symbol === null ? null : registry.get(symbol));
  const violations = [...futureTimestamps(event, sources.now?.() ?? Date.now(), skew), ...broken];
  if (violations.length > 0) throw new ValidationRejected(violations);
  switch (event.kind) {
    case "ORDER_SUBMIT":
      return { ...event, checks, command: toOrderCommand(event.order) };
    case "ORDER_CANCEL":
      return { ...event, checks, command: toCancelCommand(event.cancel) };
    case "ORDER_AMEND":
      return { ...event, checks, command: toAmendCommand(event.amend) };
    case "ORDER_CANCEL_ALL":
      return { ...event, checks, command: toCancelAllCommand(event.cancelAll) };
    case "TRADE":
      return { ...event, checks };
  }
}
