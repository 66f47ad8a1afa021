// The Validator Lambda handler against the local stack: instruments from moto SSM, LAST_TRADE from DynamoDB Local.
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { parseRejectionCause, type ReasonCode, type ValidatedEvent } from "@tradeflow/common/contracts";
import { SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import type { Context } from "aws-lambda";
import { orderEvent, tradeEvent } from "../../layers/common/src/contracts/test-events";
import { BAD_INPUTS } from "../../layers/common/src/validation/bad-inputs";
import { useFunctionEnvironments } from "../support/function-environment";

type Handler = (event: unknown, context: Context) => Promise<ValidatedEvent>;

const context = { functionName: "ValidatorFunction", awsRequestId: "validator-test" } as Context;
let handler: Handler;
let documents: DynamoDBDocumentClient;
let ssm: SSMClient;
let table: string;
let instrumentsParameter: string;

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

const lastTradeKey = { pk: "SYMBOL#AAPL", sk: "LAST_TRADE" };
const setLastTrade = (price: unknown) =>
  documents.send(
    new PutCommand({ TableName: table, Item: { ...lastTradeKey, price, tradeId: "alpha:A-1", sequence: 1 } }),
  );

async function setInstruments(value: unknown): Promise<void> {
  await ssm.send(
    new PutParameterCommand({
      Name: instrumentsParameter,
      Value: JSON.stringify(value),
      Type: "String",
      Overwrite: true,
    }),
  );
  clearCaches();
}

beforeAll(async () => {
  const stack = await useFunctionEnvironments("itvalidator", "ValidatorFunction");
  table = stack.tables.ComplianceTable!;
  instrumentsParameter = stack.parameters.InstrumentsParameter!;
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  ssm = new SSMClient({});
  ({ handler } = (await import("../../functions/validator/index")) as { handler: Handler });
});

afterEach(async () => {
  await documents.send(new DeleteCommand({ TableName: table, Key: lastTradeKey }));
  await setInstruments(SAMPLE_INSTRUMENTS);
});

test("an order passes with its command; without a recorded trade the band is skipped and says so", async () => {
  const validated = await handler(orderEvent(), context);
  expect(validated).toMatchObject({
    kind: "ORDER_SUBMIT",
    command: { type: "LIMIT", orderId: "O-1001", price: "150.05", timestamp: Date.parse("2025-06-02T14:30:00Z") },
    checks: { lastTradePrice: null, skipped: ["priceBand: no last trade price recorded for AAPL"] },
  });
});

test("the band is checked against the recorder's LAST_TRADE item", async () => {
  await setLastTrade("150.00");
  expect((await handler(orderEvent(), context)).checks).toEqual({ lastTradePrice: "150", skipped: [] });
  expect(await rejection(orderEvent({ price: "160" }))).toEqual({
    reasons: ["PRICE_OUTSIDE_BAND"],
    message: "order.price: 160 is outside 142.5..157.5, 500 bps around the last trade price 150",
  });
  // A venue print far from the last trade is as suspect as an order: beta's price with the scale left off.
  expect((await rejection(tradeEvent("beta", { price_scale: 0 }))).reasons).toEqual(["PRICE_OUTSIDE_BAND"]);
});

test("each venue's trade passes, normalized", async () => {
  await setLastTrade("150.1");
  const trades = await Promise.all((["alpha", "beta", "gamma"] as const).map((v) => handler(tradeEvent(v), context)));
  expect(trades.map((t) => (t.kind === "TRADE" ? [t.trade.tradeId, t.trade.price, t.trade.quantity] : null))).toEqual([
    ["alpha:A-77001", "150.25", "200"],
    ["beta:B-5521", "150.2", "50"],
    ["gamma:T12345", "150.05", "10"],
  ]);
});

test("the instrument registry is read from SSM: a halt there stops new orders but not cancels", async () => {
  await setInstruments(SAMPLE_INSTRUMENTS.map((i) => (i.symbol === "AAPL" ? { ...i, status: "HALTED" } : i)));
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

test("a corrupt LAST_TRADE item fails loudly instead of switching the band off", async () => {
  await setLastTrade(150);
  await expect(handler(orderEvent(), context)).rejects.toThrow(
    /LAST_TRADE item for AAPL .* has no valid decimal price/,
  );
});

test("a missing instruments parameter is a configuration error, not a rejection", async () => {
  await ssm.send(new DeleteParameterCommand({ Name: instrumentsParameter }));
  clearCaches();
  const error: unknown = await handler(orderEvent(), context).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).name).not.toBe("ValidationRejected");
  expect((error as Error).message).toContain("/tradeflow/itvalidator/instruments");
});
