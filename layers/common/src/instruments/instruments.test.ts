// The instrument schema refuses a configuration the engine would apply wrongly or not at all.
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { ConfigurationError, loadConfig } from "../config";
import { InstrumentListSchema, InstrumentSchema, SAMPLE_INSTRUMENTS } from ".";

const AAPL = SAMPLE_INSTRUMENTS.find((i) => i.symbol === "AAPL")!;

function issues(input: unknown): string[] {
  const parsed = InstrumentListSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.message);
}

test("the sample instruments are valid", () => {
  expect(InstrumentListSchema.parse(SAMPLE_INSTRUMENTS)).toEqual(SAMPLE_INSTRUMENTS);
});

test("selfTradePrevention defaults to CANCEL_NEWEST and takes only the listed modes", () => {
  const { selfTradePrevention, ...unset } = AAPL;
  expect(InstrumentSchema.parse(unset).selfTradePrevention).toBe("CANCEL_NEWEST");
  expect(InstrumentSchema.parse({ ...AAPL, selfTradePrevention: "NONE" }).selfTradePrevention).toBe("NONE");
  expect(InstrumentSchema.safeParse({ ...AAPL, selfTradePrevention: "CANCEL_ALL" }).success).toBe(false);
});

test.each([
  // The issue's instrument: with it the engine switched its max-quantity check off and accepted 5,000,000.
  [{ lotSize: "0.1", maxQuantity: "100.05" }, "maxQuantity 100.05 is not a whole multiple of lotSize 0.1"],
  [{ maxQuantity: "2.5" }, "maxQuantity 2.5 is not a whole multiple of lotSize 1"],
  [{ tickSize: "0" }, "tickSize 0 must be positive"],
  [{ lotSize: "0.000" }, "lotSize 0.000 must be positive"],
  [{ maxQuantity: "0" }, "maxQuantity 0 must be positive"],
  [{ maxNotional: "0" }, "maxNotional 0 must be positive"],
  [{ tickSize: `0.${"0".repeat(30)}1` }, `tickSize 0.${"0".repeat(30)}1 has too many digits`],
  [{ lotSize: `0.${"0".repeat(30)}1` }, `lotSize 0.${"0".repeat(30)}1 has too many digits`],
  [{ maxQuantity: "1000000000000000" }, "maxQuantity 1000000000000000 is more than 999999999999999 lots"],
  [{ maxNotional: "0.009" }, "maxNotional 0.009 is below one tick × one lot (0.01)"],
])("%j is refused, naming the instrument and the field", (change, message) => {
  expect(issues([{ ...AAPL, ...change }])).toContain(`instrument AAPL: ${message}`);
});

test("limits right on the grid are accepted", () => {
  const edge = { ...AAPL, lotSize: "0.1", maxQuantity: "100.1", maxNotional: "0.001" };
  expect(issues([edge, { ...AAPL, symbol: "AAPL2", maxQuantity: "999999999999999" }])).toEqual([]);
});

test("a size that is no decimal is one issue, not an exception", () => {
  expect(issues([{ ...AAPL, tickSize: "1e-2" }])).toEqual(["must be a plain positive decimal string"]);
});

test("a list may not name a symbol twice", () => {
  const parsed = InstrumentListSchema.safeParse([AAPL, SAMPLE_INSTRUMENTS[0], AAPL]);
  expect(parsed.error?.issues).toEqual([
    expect.objectContaining({ path: [2, "symbol"], message: "duplicate symbol AAPL" }),
  ]);
});

test("loadConfig turns a bad instrument list into a ConfigurationError", async () => {
  const ssm = mockClient(SSMClient);
  const value = JSON.stringify([{ ...AAPL, lotSize: "0.1", maxQuantity: "100.05" }]);
  ssm.on(GetParameterCommand).resolves({ Parameter: { Value: value } });
  process.env.CONFIG_PATH = "/tradeflow/unit";
  try {
    const loading = loadConfig("instruments", InstrumentListSchema);
    await expect(loading).rejects.toThrow(ConfigurationError);
    await expect(loading).rejects.toThrow("instrument AAPL: maxQuantity 100.05 is not a whole multiple of lotSize 0.1");
  } finally {
    ssm.restore();
    delete process.env.CONFIG_PATH;
  }
});
