// Test support: inputs the validator must reject, each with the exact reasons. The enricher must survive them all.
import { DETAIL_TYPES, MAX_DETAIL_BYTES, ORDER_SOURCE, type ReasonCode } from "@tradeflow/common/contracts";
import { envelope, LIMIT_ORDER, orderEvent, tradeEvent } from "./test-events";

export interface BadInput {
  readonly name: string;
  readonly input: unknown;
  readonly reasons: readonly ReasonCode[];
}

const submitted = (detail: unknown) => envelope(ORDER_SOURCE, DETAIL_TYPES.orderSubmitted, detail);

const BAD_PRICES = ["1e309", "-0", "0x10", "NaN", " 1", "1.", ".5", "+1", "Infinity", "1,5", "0"];
const BAD_IDS = ["O\u00001", "O-1\n", "O\t1", "Ö-1", "O\u202e1", "💥", "O 1", "", "x".repeat(65)];

export const BAD_INPUTS: readonly BadInput[] = [
  { name: "a string instead of an event", input: "hello", reasons: ["NOT_AN_EVENT"] },
  { name: "a JSON text instead of an event", input: JSON.stringify(orderEvent()), reasons: ["NOT_AN_EVENT"] },
  { name: "null", input: null, reasons: ["NOT_AN_EVENT"] },
  { name: "a number", input: 42, reasons: ["NOT_AN_EVENT"] },
  { name: "an array of events", input: [orderEvent()], reasons: ["NOT_AN_EVENT"] },
  { name: "an empty object", input: {}, reasons: ["INVALID_ENVELOPE"] },
  { name: "a detail without its envelope", input: LIMIT_ORDER, reasons: ["INVALID_ENVELOPE"] },
  {
    name: "an envelope with wrong types",
    input: orderEvent({}, { id: 7, time: 1748874600, resources: null }),
    reasons: ["INVALID_ENVELOPE"],
  },
  {
    name: "a compliance event routed back in",
    input: envelope("tradeflow.compliance", "Trade Executed", {}),
    reasons: ["UNKNOWN_EVENT_TYPE"],
  },
  {
    name: "broken JSON as the detail string",
    input: submitted('{"clientId": "C-1", "orderId": '),
    reasons: ["MALFORMED_DETAIL"],
  },
  { name: "a detail encoded twice", input: submitted(JSON.stringify(LIMIT_ORDER)), reasons: ["MALFORMED_DETAIL"] },
  { name: "no detail", input: submitted(undefined), reasons: ["MALFORMED_DETAIL"] },
  {
    name: "an oversized detail",
    input: orderEvent({ clientId: "C".repeat(MAX_DETAIL_BYTES) }),
    reasons: ["PAYLOAD_TOO_LARGE"],
  },
  {
    name: "wrong types in the detail",
    input: orderEvent({ quantity: 100, postOnly: "yes", side: 1 }),
    reasons: ["INVALID_NUMBER", "INVALID_FIELD"],
  },
  {
    name: "a typo in a field name",
    input: orderEvent({ postOnly: undefined, postonly: true }),
    reasons: ["UNKNOWN_FIELD"],
  },
  { name: "a required field missing", input: orderEvent({ clientId: undefined }), reasons: ["MISSING_FIELD"] },
  {
    name: "a post-only IOC order",
    input: orderEvent({ postOnly: true, timeInForce: "IOC" }),
    reasons: ["POST_ONLY_REQUIRES_GTC"],
  },
  {
    name: "an amend that changes nothing",
    input: envelope(ORDER_SOURCE, DETAIL_TYPES.orderAmendRequested, {
      clientId: "C-1",
      orderId: "O-1",
      symbol: "AAPL",
    }),
    reasons: ["INVALID_FIELD"],
  },
  {
    name: "a mass cancel with an order id",
    input: envelope(ORDER_SOURCE, DETAIL_TYPES.orderCancelAllRequested, { clientId: "C-1", orderId: "O-1" }),
    reasons: ["UNKNOWN_FIELD"],
  },
  ...BAD_PRICES.map((price) => ({
    name: `price ${JSON.stringify(price)}`,
    input: orderEvent({ price }),
    reasons: ["INVALID_NUMBER" as const],
  })),
  ...BAD_IDS.map((orderId) => ({
    name: `order id ${JSON.stringify(orderId).slice(0, 20)}`,
    input: orderEvent({ orderId }),
    reasons: ["INVALID_ID" as const],
  })),
  {
    name: "a control character in a trade id",
    input: tradeEvent("beta", { trade_id: "B\u00075521" }),
    reasons: ["INVALID_ID"],
  },
  {
    name: "the seed's bare trade on the gamma source",
    input: tradeEvent("gamma", {
      amount: 1000.5,
      sourceSystem: "system1",
      symbol: undefined,
      quantity: undefined,
      tradeTime: undefined,
    }),
    reasons: ["INVALID_NUMBER", "INVALID_FIELD", "MISSING_FIELD"],
  },
  {
    name: "an alpha timestamp in seconds",
    input: tradeEvent("alpha", { executedAt: 1748874598 }),
    reasons: ["INVALID_TIMESTAMP"],
  },
  {
    name: "a beta price that is a float",
    input: tradeEvent("beta", { price_minor: 150.2 }),
    reasons: ["INVALID_NUMBER"],
  },
  {
    name: "a gamma amount that is no exact price",
    input: tradeEvent("gamma", { amount: "1000", quantity: "3" }),
    reasons: ["INCONSISTENT_AMOUNT"],
  },
];

/** Two valid events that reuse an order id for different content: each validates; the engine and recorder catch it. */
export const DUPLICATE_ID_PAIR = [
  orderEvent(),
  orderEvent({ price: "149.00" }, { id: "0d3f5bb1-76f8-4a5d-8b0e-2f5a3c1f9e42" }),
] as const;
