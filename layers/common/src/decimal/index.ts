// Exact decimal strings <-> integer units (ticks, lots, minor units). BigInt only: no binary floating point.

export type DecimalRejection = "INVALID_NUMBER" | "NOT_POSITIVE" | "TOO_MANY_DECIMALS" | "OFF_GRID" | "TOO_LARGE";

export type UnitsResult = { ok: true; units: bigint } | { ok: false; reason: DecimalRejection };

// Plain positional notation only: no sign, exponent, hex, whitespace, "NaN" or "Infinity".
const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;
const MAX_DIGITS = 30;

/** Largest price in ticks or quantity in lots: keeps every integer in the engine's Lua scripts exact. */
export const MAX_UNITS = 999_999_999_999_999n;

export interface ScaledDecimal {
  readonly digits: bigint;
  readonly scale: number;
}

export function parseDecimal(text: string): ScaledDecimal | null {
  if (text.length > 3 * MAX_DIGITS) return null;
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const fraction = m[2] ?? "";
  return { digits: BigInt(`${m[1]}${fraction}`), scale: fraction.length };
}

export function isDecimalString(text: string): boolean {
  return parseDecimal(text) !== null;
}

/** How many whole `step`s make `value`; the value must lie exactly on the step grid. */
export function toUnits(value: string, step: string, maxUnits: bigint): UnitsResult {
  const v = parseDecimal(value);
  if (!v) return { ok: false, reason: "INVALID_NUMBER" };
  if (value.length > MAX_DIGITS + 1) return { ok: false, reason: "TOO_LARGE" };
  const s = parseDecimal(step);
  if (!s || s.digits === 0n) throw new Error(`invalid step size ${step}`);
  if (v.digits === 0n) return { ok: false, reason: "NOT_POSITIVE" };
  const scale = Math.max(v.scale, s.scale);
  const vn = v.digits * 10n ** BigInt(scale - v.scale);
  const sn = s.digits * 10n ** BigInt(scale - s.scale);
  if (vn % sn !== 0n) return { ok: false, reason: v.scale > s.scale ? "TOO_MANY_DECIMALS" : "OFF_GRID" };
  const units = vn / sn;
  if (units > maxUnits) return { ok: false, reason: "TOO_LARGE" };
  return { ok: true, units };
}

/** The exact decimal string for `units` whole steps of `step`, without trailing zeros. */
export function fromUnits(units: bigint, step: string): string {
  const s = parseDecimal(step);
  if (!s) throw new Error(`invalid step size ${step}`);
  return formatScaled(units * s.digits, s.scale);
}

export function formatScaled(digits: bigint, scale: number): string {
  const negative = digits < 0n;
  const abs = (negative ? -digits : digits).toString().padStart(scale + 1, "0");
  const whole = abs.slice(0, abs.length - scale);
  const fraction = abs.slice(abs.length - scale).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** Product of two decimal strings, exact. */
export function multiply(a: string, b: string): string {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) throw new Error(`invalid decimal operand ${a} * ${b}`);
  return formatScaled(x.digits * y.digits, x.scale + y.scale);
}

/**
 * a / b (non-negative, given as scaled integers) rounded to `scale` decimals: to the nearest, a tie up (HALF_UP) or
 * to the even last digit (HALF_EVEN).
 */
export function divideRounded(
  numerator: bigint,
  denominator: bigint,
  scale: number,
  rounding: "HALF_UP" | "HALF_EVEN" = "HALF_UP",
): string {
  if (denominator === 0n) throw new Error("division by zero");
  const scaled = numerator * 10n ** BigInt(scale);
  const q = scaled / denominator;
  const twice = (scaled % denominator) * 2n;
  const up = twice > denominator || (twice === denominator && (rounding === "HALF_UP" || q % 2n === 1n));
  return formatScaled(up ? q + 1n : q, scale);
}

/** Compares two decimal strings exactly: -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) throw new Error(`invalid decimal operand ${a} <> ${b}`);
  const scale = Math.max(x.scale, y.scale);
  const xn = x.digits * 10n ** BigInt(scale - x.scale);
  const yn = y.digits * 10n ** BigInt(scale - y.scale);
  return xn < yn ? -1 : xn > yn ? 1 : 0;
}

export function stepScale(step: string): number {
  const s = parseDecimal(step);
  if (!s) throw new Error(`invalid step size ${step}`);
  return s.scale;
}
