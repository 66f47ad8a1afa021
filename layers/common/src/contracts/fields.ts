// Field schemas that carry their own rejection reason, and the mapping from zod issues to Violations.
import * as z from "zod";
import { formatScaled, parseDecimal } from "../decimal";
import { InstrumentSchema } from "../instruments";
import { LimitCommandSchema } from "../orderbook/types";
import type { Violation } from "./errors";
import type { ReasonCode } from "./reasons";

/** A short, escaped rendering of an offending value for messages and logs. */
export function preview(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // BigInt or a cycle: only in-process callers can pass those
  }
  text ??= typeof value;
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function reasoned<T>(reason: ReasonCode, accept: (value: unknown) => boolean, expectation: string) {
  return z.custom<T>(accept, { params: { reason }, error: (issue) => `${expectation}, got ${preview(issue.input)}` });
}

// parseDecimal has no length cap; 30 significant digits is far beyond any price or size we trade.
const MAX_DECIMAL_LENGTH = 31;

function positiveDecimal(value: unknown): boolean {
  if (typeof value !== "string" || value.length > MAX_DECIMAL_LENGTH) return false;
  const parsed = parseDecimal(value);
  return parsed !== null && parsed.digits > 0n;
}

/** The one spelling of a decimal: no trailing fractional zeros ("100.50" becomes "100.5"). */
export function canonicalDecimal(text: string): string {
  const parsed = parseDecimal(text);
  if (!parsed) throw new Error(`not a decimal: ${preview(text)}`);
  return formatScaled(parsed.digits, parsed.scale);
}

/** Zero allowed: fees and rates. */
export const Decimal = reasoned<string>(
  "INVALID_NUMBER",
  (value) => typeof value === "string" && value.length <= MAX_DECIMAL_LENGTH && parseDecimal(value) !== null,
  'must be a non-negative decimal string such as "0.25"',
);

export const PositiveDecimal = reasoned<string>(
  "INVALID_NUMBER",
  positiveDecimal,
  'must be a positive decimal string like "101.25" (no sign, exponent, spaces or JSON number)',
);

// The engine's own id rule, so that every id we accept is one the matcher accepts.
const engineId = LimitCommandSchema.shape.orderId;

export const Identifier = reasoned<string>(
  "INVALID_ID",
  (value) => engineId.safeParse(value).success,
  "must be 1-64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit",
);

export const InstrumentSymbol = InstrumentSchema.shape.symbol;
export const Currency = InstrumentSchema.shape.quoteCurrency;

const MIN_TIME_MS = Date.UTC(2000, 0, 1);
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const inRange = (ms: number) => Number.isSafeInteger(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS;

export const EpochMillis = reasoned<number>(
  "INVALID_TIMESTAMP",
  (value) => typeof value === "number" && inRange(value),
  "must be epoch milliseconds, an integer between 2000-01-01 and 9999-12-31",
);

function isoTimestamp(offset: boolean, expectation: string) {
  const format = z.iso.datetime({ offset });
  return reasoned<string>(
    "INVALID_TIMESTAMP",
    (value) => format.safeParse(value).success && inRange(Date.parse(value as string)),
    expectation,
  );
}

export const IsoUtcTimestamp = isoTimestamp(
  false,
  'must be an ISO 8601 UTC timestamp such as "2025-06-02T14:30:00.250Z"',
);
export const IsoOffsetTimestamp = isoTimestamp(
  true,
  'must be an ISO 8601 timestamp with Z or an offset, such as "2025-06-02T10:30:00-04:00"',
);

/** Normalized time: UTC, millisecond precision, always 24 characters, so that ISO strings sort as times. */
export function utcMillis(timestamp: string | number): string {
  return new Date(typeof timestamp === "number" ? timestamp : Date.parse(timestamp)).toISOString();
}

export const MinorUnits = reasoned<number>(
  "INVALID_NUMBER",
  (value) => Number.isSafeInteger(value) && (value as number) > 0,
  "must be a positive integer below 2^53 (a JSON number with no fraction)",
);

export const Scale = reasoned<number>(
  "INVALID_NUMBER",
  (value) => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 18,
  "must be an integer from 0 to 18",
);

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Turns zod issues into violations: unknown fields, missing fields, then each field's own reason
 * (INVALID_FIELD when it has none). With `only`, every violation gets that reason (the envelope's).
 */
export function violationsFrom(error: z.ZodError, root: unknown, prefix: string, only?: ReasonCode): Violation[] {
  const violation = (reason: ReasonCode, path: string, text: string): Violation => ({
    reason: only ?? reason,
    path,
    text,
  });
  return error.issues.flatMap((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) =>
        violation("UNKNOWN_FIELD", path ? `${path}.${key}` : key, "is not part of this event's contract"),
      );
    }
    if (issue.path.length > 0 && valueAt(root, issue.path) === undefined) {
      return [violation("MISSING_FIELD", path, "is required")];
    }
    const own = issue.code === "custom" ? (issue.params?.reason as ReasonCode | undefined) : undefined;
    return [violation(own ?? "INVALID_FIELD", path, issue.message)];
  });
}
