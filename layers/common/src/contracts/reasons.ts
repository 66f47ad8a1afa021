// Why an event was rejected: by the validator, or (PRICE_OUTSIDE_BAND, NOTIONAL_TOO_LARGE) by the engine or the
// recorder, which hold the state those rules need. Stable strings: rejection records, metrics and alarms match on them.
export const REASON_CODES = {
  NOT_AN_EVENT: "The input is not a JSON object (a string, number, array or null).",
  INVALID_ENVELOPE:
    "An EventBridge envelope field (version, id, source, detail-type, account, time, region, resources) is missing or malformed.",
  UNKNOWN_EVENT_TYPE: "The source and detail-type pair is not one this workflow processes.",
  PAYLOAD_TOO_LARGE: "The detail is larger than MAX_DETAIL_BYTES (8 KiB) of JSON.",
  MALFORMED_DETAIL: "The detail is not a JSON object: missing, a (possibly broken) JSON string, an array or a scalar.",
  MISSING_FIELD: "A required detail field is absent.",
  UNKNOWN_FIELD: "The detail carries a field its contract does not define (a typo, or another source's shape).",
  INVALID_FIELD: "A detail field has the wrong type or a value outside its allowed set.",
  INVALID_ID: "An id is not 1-64 characters of A-Z a-z 0-9 . _ : - (no spaces, unicode or control characters).",
  INVALID_NUMBER:
    'A price, quantity or amount is not a plain positive decimal string such as "101.25" (or, for beta, a positive safe integer with a scale).',
  INVALID_TIMESTAMP:
    "A timestamp is not in the source's format, lies outside 2000-01-01 .. 9999-12-31, or lies further in the future than the clock-skew parameter allows (5 minutes by default).",
  INCONSISTENT_AMOUNT: "A gamma amount divided by its quantity is not an exact decimal price.",
  UNKNOWN_SYMBOL: "The symbol is not in the instrument registry.",
  INSTRUMENT_NOT_TRADING: "The instrument is HALTED or CLOSED: new orders are refused (cancels are accepted).",
  CURRENCY_MISMATCH: "The trade's currency is not the instrument's quote currency.",
  PRICE_OFF_TICK: "The price is not a whole multiple of the instrument's tick size.",
  QUANTITY_OFF_LOT: "The quantity is not a whole multiple of the instrument's lot size.",
  QUANTITY_TOO_LARGE: "The quantity exceeds the instrument's maxQuantity.",
  NOTIONAL_TOO_LARGE: "Price times quantity exceeds the instrument's maxNotional.",
  PRICE_OUTSIDE_BAND: "The price is further from the last trade price than the instrument's priceBandBps.",
  POST_ONLY_REQUIRES_GTC: "A post-only order must be able to rest: it cannot be IOC or FOK.",
} as const satisfies Record<string, string>;

export type ReasonCode = keyof typeof REASON_CODES;

export const REASON_CODE_LIST = Object.keys(REASON_CODES) as readonly ReasonCode[];

export function isReasonCode(value: unknown): value is ReasonCode {
  return typeof value === "string" && Object.hasOwn(REASON_CODES, value);
}
