// The Validator Lambda handler against the local stack: instruments from moto SSM, and no table at all (the band,
// which needs the last trade price, is the engine's and the recorder's).
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { parseRejectionCause, type ReasonCode, type ValidatedEvent } from "@tradeflow/common/contracts";
import { SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import type { Context } from "aws-lambda";
import { BAD_INPUTS } from "../support/bad-inputs";
import { useFunctionEnvironments } from "../support/function-environment";
import { orderEvent, tradeEvent } from "../support/test-events";

type Handler = (event: unknown, context: Context) => Promise<ValidatedEvent>;

const context = { functionName: "ValidatorFunction", awsRequestId: "validator-test" } as Context;
let handler: Handler;
let ssm: SSMClient;
let instrumentsParameter: string;
let clockSkewParameter: string;

async function rejection(input: unknown): Promise<{ reasons: readonly ReasonCode[]; message: string }> {
  const error: unknown = await handler(input, context).then(
    () => null,
    (err: unknown) => err,
  );
  if (!(error instanceof Error) || error.name !== "ValidationRejected")
    throw new Error(`expected a rejection, got ${String(error)}`);
  const parsed = parseRejectionCause(error.message);
  if (!parsed) throw new Error(`unparseable rejection message ${error.message}`);
  return parsed;
}

async function setParameter(name: string, value: unknown): Promise<void> {
  await ssm.send(
    new PutParameterCommand({ Name: name, Value: JSON.stringify(value), Type: "String", Overwrite: true }),
  );
  clearCaches();
}

beforeAll(async () => {
  const stack = await useFunctionEnvironments("itvalidator", "ValidatorFunction");
  instrumentsParameter = stack.parameters.InstrumentsParameter!;
  clockSkewParameter = stack.parameters.ClockSkewParameter!;
  ssm = new SSMClient({});
  ({ handler } = (await import("../../functions/validator/index")) as { handler: Handler });
});

afterEach(async () => {
  await setParameter(instrumentsParameter, SAMPLE_INSTRUMENTS);
  await setParameter(clockSkewParameter, { maxFutureSeconds: 300 });
});

test("an order passes with its command; the band is left to the engine and says so", async () => {
  const validated = await handler(orderEvent(), context);
  expect(validated).toMatchObject({
    kind: "ORDER_SUBMIT",
    command: { type: "LIMIT", orderId: "O-1001", price: "150.05", timestamp: Date.parse("2025-06-02T14:30:00Z") },
    checks: { skipped: ["priceBand: checked by the matching engine against its own last trade price"] },
  });
});

test("limit notional is checked here; a price far from any trade is not", async () => {
  expect(await rejection(orderEvent({ price: "160.01", quantity: "62500" }))).toEqual({
    reasons: ["NOTIONAL_TOO_LARGE"],
    message: "order: notional 10000625 exceeds the maximum 10000000 for AAPL",
  });
  expect((await handler(orderEvent({ price: "1500.5" }), context)).kind).toBe("ORDER_SUBMIT");
  // Beta's price with the scale left off: a bad print, but the recorder holds it to the engine's last trade price.
  const print = await handler(tradeEvent("beta", { price_scale: 0 }), context);
  expect(print).toMatchObject({
    trade: { price: "15020" },
    checks: { skipped: ["priceBand: checked once by the recorder against the engine's last trade price"] },
  });
});

test("each venue's trade passes, normalized", async () => {
  const trades = await Promise.all((["alpha", "beta", "gamma"] as const).map((v) => handler(tradeEvent(v), context)));
  expect(trades.map((t) => (t.kind === "TRADE" ? [t.trade.tradeId, t.trade.price, t.trade.quantity] : null))).toEqual([
    ["alpha:A-77001", "150.25", "200"],
    ["beta:B-5521", "150.2", "50"],
    ["gamma:T12345", "150.05", "10"],
  ]);
});

test("the instrument registry is read from SSM: a halt there stops new orders but not cancels", async () => {
  await setParameter(
    instrumentsParameter,
    SAMPLE_INSTRUMENTS.map((i) => (i.symbol === "AAPL" ? { ...i, status: "HALTED" } : i)),
  );
  expect((await rejection(orderEvent())).reasons).toEqual(["INSTRUMENT_NOT_TRADING"]);
  const cancel = orderEvent(
    {},
    { "detail-type": "Order Cancel Requested", detail: { clientId: "C-1", orderId: "O-1", symbol: "AAPL" } },
  );
  expect((await handler(cancel, context)).kind).toBe("ORDER_CANCEL");
});

test("every bad input is rejected with its reasons, none crashes", async () => {
  for (const bad of BAD_INPUTS) {
    const { reasons } = await rejection(bad.input);
    expect([bad.name, [...reasons].sort()]).toEqual([bad.name, [...bad.reasons].sort()]);
  }
});

test("a missing instruments parameter is a configuration error, not a rejection", async () => {
  await ssm.send(new DeleteParameterCommand({ Name: instrumentsParameter }));
  clearCaches();
  const error: unknown = await handler(orderEvent(), context).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).name).not.toBe("ValidationRejected");
  expect((error as Error).message).toContain("/tradeflow/itvalidator/instruments");
});

test("times more than the template's clock skew (5 minutes) ahead are refused; SSM changes the skew", async () => {
  const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
  expect((await handler(orderEvent({}, { time: inMinutes(4) }), context)).kind).toBe("ORDER_SUBMIT");
  expect(await rejection(orderEvent({}, { time: inMinutes(6) }))).toEqual({
    reasons: ["INVALID_TIMESTAMP"],
    message: expect.stringMatching(/^time: .+ is more than 300 s after the validator's clock/),
  });
  expect((await rejection(tradeEvent("alpha", { executedAt: Date.now() + 360_000 }))).reasons).toEqual([
    "INVALID_TIMESTAMP",
  ]);
  await setParameter(clockSkewParameter, { maxFutureSeconds: 3600 });
  expect((await handler(orderEvent({}, { time: inMinutes(59) }), context)).kind).toBe("ORDER_SUBMIT");
  expect((await rejection(orderEvent({}, { time: inMinutes(61) }))).reasons).toEqual(["INVALID_TIMESTAMP"]);
});

test("a missing clock-skew parameter is a configuration error, not a rejection", async () => {
  await ssm.send(new DeleteParameterCommand({ Name: clockSkewParameter }));
  clearCaches();
  const error: unknown = await handler(orderEvent(), context).catch((err: unknown) => err);
  expect((error as Error).name).not.toBe("ValidationRejected");
  expect((error as Error).message).toContain("/tradeflow/itvalidator/clock-skew");
});
