// statemachine/workflow.asl.json: valid ASL once substituted, the retry and catch policy the wiring agreed, and
// the routing, run on aws-local-stepfunctions with stub tasks (the handlers' own tests live beside them).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { StateMachine } from "aws-local-stepfunctions";
import { z } from "zod";
import { type AslState, AslStateSchema } from "../../local/asl";
import { loadTemplate, templateFile } from "../../local/template";

// asl-validator ships CommonJS without type declarations.
const aslValidator = createRequire(import.meta.url)("asl-validator") as (definition: unknown) => {
  isValid: boolean;
  errorsText: (separator?: string) => string;
};

const template = loadTemplate();
const [[, machine] = []] = Object.entries(template.Resources).filter(
  ([, r]) => r.Type === "AWS::Serverless::StateMachine",
);
const { DefinitionUri, DefinitionSubstitutions } = z
  .object({ DefinitionUri: z.string(), DefinitionSubstitutions: z.record(z.string(), z.unknown()) })
  .parse(machine?.Properties);
const raw = readFileSync(templateFile(DefinitionUri), "utf8");

/** Placeholders of the right shape for each substitution (a Lambda ARN, a queue URL). */
function placeholder(name: string): string {
  if (name.endsWith("FunctionArn")) return `arn:aws:lambda:us-east-1:000000000000:function:${name.slice(0, -3)}`;
  if (name.endsWith("QueueUrl")) return `https://sqs.us-east-1.amazonaws.com/000000000000/${name.slice(0, -3)}`;
  throw new Error(`no placeholder shape for \${${name}}`);
}

const substituted = (): Record<string, unknown> =>
  JSON.parse(raw.replace(/\$\{([^}]+)\}/g, (_, name: string) => placeholder(name)));

type State = AslState;

function allStates(definition: unknown): Record<string, State> {
  const states: Record<string, State> = {};
  const walk = (machine: unknown) => {
    const parsed = z.object({ States: z.record(z.string(), AslStateSchema) }).parse(machine);
    for (const [name, state] of Object.entries(parsed.States)) {
      states[name] = state;
      for (const branch of state.Branches ?? []) walk(branch);
    }
  };
  walk(definition);
  return states;
}

const states = allStates(JSON.parse(raw));
const LAMBDA_ERRORS = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
];

test("is valid ASL once every substitution has a placeholder", () => {
  const { isValid, errorsText } = aslValidator(substituted());
  expect(errorsText("\n")).toBe("");
  expect(isValid).toBe(true);
});

test("holds no account id, region or hard-coded function", () => {
  expect(raw).not.toMatch(/\d{12}/);
  expect(raw).not.toMatch(/\b[a-z]{2}-[a-z]+-\d\b/);
  expect(raw).not.toMatch(/arn:aws:lambda/);
});

/** The ErrorEquals of each of a state's retriers. */
const retried = (name: string): string[][] =>
  (states[name]?.Retry ?? []).map((r) => z.array(z.string()).parse(r.ErrorEquals));

/** What each Lambda task retries besides LAMBDA_ERRORS: every task is idempotent, so a timed-out one is retried. */
const OWN_RETRIES: Record<string, string[]> = {
  Validate: ["Sandbox.Timedout"],
  Enrich: ["Sandbox.Timedout"],
  Match: ["Sandbox.Timedout", "MatcherUnavailableError"],
  Record: ["Lambda.Unknown", "Sandbox.Timedout", "RecorderPublishError"],
  RecordRejection: ["Lambda.Unknown", "Sandbox.Timedout", "RecorderPublishError"],
};

test("every Lambda task retries the Lambda service errors and timeouts with capped, fully jittered backoff", () => {
  const lambdaTasks = Object.entries(states).filter(([, s]) => s.Type === "Task" && s.Resource?.startsWith("${"));
  expect(lambdaTasks.map(([name]) => name).sort()).toEqual(Object.keys(OWN_RETRIES).sort());
  for (const [name, state] of lambdaTasks) {
    expect(state.Retry).toHaveLength(1);
    const [retrier] = state.Retry ?? [];
    expect(retrier).toMatchObject({
      ErrorEquals: [...LAMBDA_ERRORS, ...(OWN_RETRIES[name] ?? [])],
      JitterStrategy: "FULL",
    });
    expect(retrier?.ErrorEquals).toContain("Sandbox.Timedout");
    for (const field of ["IntervalSeconds", "BackoffRate", "MaxAttempts", "MaxDelaySeconds"]) {
      expect(typeof retrier?.[field]).toBe("number");
    }
  }
});

test("Record and RecordRejection retry exactly the service errors, sandbox failures and publish errors", () => {
  const expected = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "RecorderPublishError",
  ];
  for (const name of ["Record", "RecordRejection"]) expect(retried(name)).toEqual([expected]);
  expect(raw).not.toContain("RecorderContention");
});

test("no state retries States.Timeout without a TimeoutSeconds that could raise it", () => {
  const unraisable = Object.entries(states).filter(
    ([name, s]) => retried(name).flat().includes("States.Timeout") && s.TimeoutSeconds === undefined,
  );
  expect(unraisable.map(([name]) => name)).toEqual([]);
});

test("rejections are recorded; every other failure reaches the failed queue and then a Fail state", () => {
  expect(states.ProcessEvent?.Catch).toEqual([
    { ErrorEquals: ["ValidationRejected"], ResultPath: "$.rejection", Next: "RecordRejection" },
    { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "SendToFailedQueue" },
  ]);
  for (const name of ["Record", "RecordRejection"]) {
    expect(states[name]?.Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "SendToFailedQueue" },
    ]);
  }
  expect(states.SendToFailedQueue).toMatchObject({ Resource: "arn:aws:states:::sqs:sendMessage", Next: "Failed" });
  expect(states.Failed).toMatchObject({ Type: "Fail", Error: expect.any(String), Cause: expect.any(String) });
});

// ---- routing, with stub tasks

const event = (source: string, detailType: string, detail: Record<string, unknown>) => ({
  version: "0",
  id: "evt-1",
  "detail-type": detailType,
  source,
  account: "000000000000",
  time: "2025-01-02T15:04:05Z",
  region: "us-east-1",
  resources: [],
  detail,
});
const order = event("tradeflow.orders", "Order Submitted", { orderId: "o-1" });
const trade = event("tradeflow.venue.alpha", "Trade Reported", { tradeId: "t-1" });

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

type Handler = (input: unknown) => unknown;

function run(input: Record<string, unknown>, handlers: Record<string, Handler>) {
  const calls: Record<string, unknown[]> = {};
  const taskResourceLocalHandlers = Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      async (payload: unknown) => {
        calls[name] = [...(calls[name] ?? []), payload];
        return handler(payload);
      },
    ]),
  );
  const sm = new StateMachine(substituted() as never, { validationOptions: { checkArn: false } });
  const execution = sm.run(input as never, {
    overrides: { taskResourceLocalHandlers: taskResourceLocalHandlers as never, retryIntervalOverrides: {} },
  });
  return { result: execution.result, calls };
}

const validated = (input: unknown, command?: unknown) => ({
  kind: "stub",
  eventId: z.object({ id: z.string() }).parse(input).id,
  ...(command ? { command } : {}),
});
const recorded = () => ({ recorded: true });
const queued = () => ({ MessageId: "m-1" });

test("an order is validated, matched on its command and enriched, then recorded with both results", async () => {
  const command = { type: "LIMIT", orderId: "o-1" };
  const { result, calls } = run(order, {
    Validate: (input) => validated(input, command),
    Match: () => ({ fills: [] }),
    Enrich: () => ({ session: "CONTINUOUS" }),
    Record: recorded,
    SendToFailedQueue: queued,
  });
  const output = await result;
  expect(calls.Match).toEqual([command]);
  expect(calls.Record).toEqual([
    {
      ...order,
      processed: {
        validated: { kind: "stub", eventId: "evt-1", command, match: { fills: [] } },
        enrichment: { session: "CONTINUOUS" },
      },
    },
  ]);
  expect(output).toMatchObject({ recorded: { recorded: true } });
});

test("a trade has no command, so it is not matched", async () => {
  const { result, calls } = run(trade, {
    Validate: (input) => validated(input),
    Match: () => ({}),
    Enrich: () => ({}),
    Record: recorded,
  });
  await result;
  expect(calls.Match).toBeUndefined();
  expect(calls.Record).toHaveLength(1);
});

test("a ValidationRejected error is recorded as a rejection", async () => {
  const { result, calls } = run(order, {
    Validate: () => {
      throw new NamedError("ValidationRejected", '{"reasons":["PRICE_OFF_TICK"]}');
    },
    Enrich: () => ({}),
    RecordRejection: recorded,
    Record: recorded,
  });
  await result;
  expect(calls.Record).toBeUndefined();
  expect(calls.RecordRejection).toEqual([
    { ...order, rejection: { Error: "ValidationRejected", Cause: '{"reasons":["PRICE_OFF_TICK"]}' } },
  ]);
});

test("a Record that timed out is retried, and the event does not reach the failed queue", async () => {
  let attempts = 0;
  const { result, calls } = run(trade, {
    Validate: (input) => validated(input),
    Enrich: () => ({}),
    Record: () => {
      attempts += 1;
      if (attempts === 1) throw new NamedError("Sandbox.Timedout", "Task timed out after 15.00 seconds");
      return recorded();
    },
    SendToFailedQueue: queued,
  });
  await expect(result).resolves.toMatchObject({ recorded: { recorded: true } });
  expect(calls.Record).toHaveLength(2);
  expect(calls.SendToFailedQueue).toBeUndefined();
});

test("any other failure sends the event and the error to the failed queue, then fails", async () => {
  const { result, calls } = run(trade, {
    Validate: (input) => validated(input),
    Enrich: () => {
      throw new NamedError("ConfigurationError", "SSM parameter missing");
    },
    Record: recorded,
    SendToFailedQueue: queued,
  });
  await expect(result).rejects.toMatchObject({ cause: { name: "TradeflowEventFailed" } });
  expect(calls.Record).toBeUndefined();
  expect(calls.SendToFailedQueue).toEqual([
    {
      QueueUrl: placeholder("FailedExecutionsQueueUrl"),
      MessageBody: {
        event: {
          id: "evt-1",
          source: trade.source,
          "detail-type": "Trade Reported",
          time: trade.time,
          detail: trade.detail,
        },
        error: { Error: "ConfigurationError", Cause: "SSM parameter missing" },
      },
    },
  ]);
});

test("DefinitionSubstitutions covers exactly the ASL's variables", () => {
  const used = new Set([...raw.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]));
  expect(used).toEqual(new Set(Object.keys(DefinitionSubstitutions)));
});
