// statemachine/workflow.asl.json: valid ASL once substituted, the retry and catch policy (stated here once), and
// the routing, run on aws-local-stepfunctions with stub tasks (the handlers' own tests live beside them).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { StateMachine } from "aws-local-stepfunctions";
import { z } from "zod";
import { type AslMachine, AslMachineSchema, type AslState, AslStateSchema } from "../../local/stepfunctions/asl";
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

// ---- the retry policy: stated here once (ASL has no anchors, so each Task state repeats its list)

/**
 * What every Lambda task retries, each task being idempotent: Lambda's own service errors, a sandbox that crashed,
 * exited or timed out, the task's TimeoutSeconds, and DependencyUnavailable, the name under which the handlers throw
 * a throttled, 5xx, timed-out or dropped call to a dependency (layers/common/src/observability/dependency.ts).
 */
const TRANSIENT = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
  "Lambda.Unknown",
  "Runtime.ExitError",
  "Sandbox.Timedout",
  "States.Timeout",
  "DependencyUnavailable",
];

/** Each Task state: the errors it retries, and how often. Anything else goes straight to its Catch. */
const POLICY: Record<string, { retries: string[]; maxAttempts: number }> = {
  ValidateInput: { retries: TRANSIENT, maxAttempts: 3 },
  Validate: { retries: TRANSIENT, maxAttempts: 3 },
  // Redis failing over takes a few seconds: one attempt more.
  Match: { retries: [...TRANSIENT, "MatcherUnavailableError"], maxAttempts: 4 },
  Enrich: { retries: TRANSIENT, maxAttempts: 3 },
  // The record is written before the publish that failed; a retry finds it in place and publishes again.
  Record: { retries: [...TRANSIENT, "RecorderPublishError"], maxAttempts: 3 },
  RecordRejection: { retries: [...TRANSIENT, "RecorderPublishError"], maxAttempts: 3 },
  // States.TaskFailed is every error of the SQS integration (throttling, 5xx, a refused message) but States.Timeout.
  SendToFailedQueue: { retries: ["States.TaskFailed", "States.Timeout"], maxAttempts: 3 },
  SendTruncatedToFailedQueue: { retries: ["States.TaskFailed", "States.Timeout"], maxAttempts: 3 },
};
const BACKOFF = { IntervalSeconds: 1, BackoffRate: 2, MaxDelaySeconds: 8, JitterStrategy: "FULL" };

/** Errors no retry can fix. ConfigurationError only when SSM answered: a throttled read is DependencyUnavailable. */
const NEVER_RETRIED = ["ValidationRejected", "ConfigurationError", "RecordInputInvalid", "States.ALL"];

/** EXPRESS, the template's default WorkflowType, ends an execution after five minutes. */
const EXPRESS_MAX_SECONDS = 300;

const TaskTiming = z.object({
  TimeoutSeconds: z.number().int().positive(),
  Retry: z.tuple([z.object({ MaxAttempts: z.number(), IntervalSeconds: z.number(), BackoffRate: z.number() }).loose()]),
});

test("every Task state retries exactly its policy's errors, with capped, fully jittered backoff", () => {
  const tasks = Object.entries(states).filter(([, s]) => s.Type === "Task");
  expect(tasks.map(([name]) => name).sort()).toEqual(Object.keys(POLICY).sort());
  for (const [name, state] of tasks) {
    const policy = POLICY[name];
    const retry = [{ ErrorEquals: policy?.retries, MaxAttempts: policy?.maxAttempts, ...BACKOFF }];
    expect({ name, Retry: state.Retry }).toEqual({ name, Retry: retry });
  }
});

test("errors no retry can fix are never retried: they go to a Catch at once", () => {
  const retried = Object.entries(states).flatMap(([name, s]) =>
    (s.Retry ?? []).flatMap((r) =>
      z
        .array(z.string())
        .parse(r.ErrorEquals)
        .map((error) => `${name}: ${error}`),
    ),
  );
  expect(retried.filter((r) => NEVER_RETRIED.some((error) => r.endsWith(`: ${error}`)))).toEqual([]);
});

/** The Timeout (seconds) of the function a Lambda task's Resource names through DefinitionSubstitutions. */
function functionTimeout(resource: string): number {
  const variable = /^\$\{(\w+)\}$/.exec(resource)?.[1] ?? "";
  const [logicalId] = z
    .object({ "Fn::GetAtt": z.tuple([z.string(), z.literal("Arn")]) })
    .parse(DefinitionSubstitutions[variable])["Fn::GetAtt"];
  const own = template.Resources[logicalId]?.Properties.Timeout;
  return z.coerce
    .number()
    .int()
    .positive()
    .parse(own ?? template.Globals.Function.Timeout);
}

test("each Lambda task waits a little longer than its function may run, so Lambda's Sandbox.Timedout comes first", () => {
  for (const [name, state] of Object.entries(states).filter(([, s]) => s.Resource?.startsWith("${"))) {
    const { TimeoutSeconds } = TaskTiming.parse(state);
    const timeout = functionTimeout(state.Resource ?? "");
    expect({ name, slack: TimeoutSeconds - timeout }).toEqual({ name, slack: 2 });
  }
});

/** The longest a state can take: each attempt runs to TimeoutSeconds, each wait is the capped maximum, no jitter. */
function worstSeconds(state: State): number {
  if (state.Type === "Parallel") return Math.max(...(state.Branches ?? []).map((branch) => longestPath(branch)));
  if (state.Type !== "Task") return 0;
  const {
    TimeoutSeconds,
    Retry: [retry],
  } = TaskTiming.parse(state);
  const waits = Array.from({ length: retry.MaxAttempts }, (_, n) =>
    Math.min(retry.IntervalSeconds * retry.BackoffRate ** n, z.number().parse(retry.MaxDelaySeconds)),
  );
  return TimeoutSeconds * (1 + retry.MaxAttempts) + waits.reduce((sum, w) => sum + w, 0);
}

/** The longest way through a machine along every Next, Choice, Default and Catch (the ASL has no loops). */
function longestPath(machine: AslMachine, from = machine.StartAt, path: readonly string[] = []): number {
  if (path.includes(from)) throw new Error(`a loop: ${[...path, from].join(" -> ")}`);
  const state = machine.States[from];
  if (!state) throw new Error(`no state ${from}`);
  const next = [state.Next, state.Default, ...(state.Choices ?? []), ...(state.Catch ?? [])].map((n) =>
    typeof n === "object" ? n.Next : n,
  );
  const after = next.flatMap((n) => (n ? [longestPath(machine, n, [...path, from])] : []));
  return worstSeconds(state) + Math.max(0, ...after);
}

test("the worst case, every attempt of every task timing out after the longest waits, fits the execution timeout", () => {
  const definition = JSON.parse(raw);
  const { TimeoutSeconds } = z.object({ TimeoutSeconds: z.number() }).parse(definition);
  expect(TimeoutSeconds).toBe(EXPRESS_MAX_SECONDS);
  // ProcessEvent (Validate 4 × 12 s + 1 + 2 + 4 s, then Match 5 × 12 s + 1 + 2 + 4 + 8 s) + Record (4 × 17 s + 7 s)
  // + SendToFailedQueue and SendTruncatedToFailedQueue (4 × 5 s + 7 s each): docs/architecture.md#retries.
  expect(longestPath(AslMachineSchema.parse(definition))).toBe(130 + 75 + 27 + 27);
  expect(longestPath(AslMachineSchema.parse(definition))).toBeLessThanOrEqual(TimeoutSeconds);
});

test("no state retries States.Timeout without a TimeoutSeconds that could raise it", () => {
  const unraisable = Object.entries(states).filter(
    ([, s]) => JSON.stringify(s.Retry ?? []).includes("States.Timeout") && s.TimeoutSeconds === undefined,
  );
  expect(unraisable.map(([name]) => name)).toEqual([]);
});

// ---- where each outcome ends

test("rejections are recorded; every other failure reaches the failed queue and then a Fail state", () => {
  const catches = [
    { ErrorEquals: ["ValidationRejected"], ResultPath: "$.rejection", Next: "RecordRejection" },
    { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "SendToFailedQueue" },
  ];
  expect(states.ProcessEvent?.Catch).toEqual(catches);
  expect(states.ValidateInput?.Catch).toEqual(catches);
  for (const name of ["Record", "RecordRejection"]) {
    expect(states[name]?.Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "SendToFailedQueue" },
    ]);
  }
  expect(states.SendToFailedQueue).toMatchObject({
    Resource: "arn:aws:states:::sqs:sendMessage",
    Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.sendError", Next: "SendTruncatedToFailedQueue" }],
    Next: "Failed",
  });
  expect(states.SendTruncatedToFailedQueue).toMatchObject({
    Resource: "arn:aws:states:::sqs:sendMessage",
    Next: "Failed",
  });
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

const EXECUTION = "exec-1";
const EXECUTION_ARN = `arn:aws:states:us-east-1:000000000000:execution:workflow:${EXECUTION}`;

function run(input: unknown, handlers: Record<string, Handler>) {
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
    overrides: {
      taskResourceLocalHandlers: taskResourceLocalHandlers as never,
      retryIntervalOverrides: Object.fromEntries(Object.keys(POLICY).map((name) => [name, 0])),
    },
    context: { Execution: { Id: EXECUTION_ARN, Name: EXECUTION } },
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

const rejectedAs = (reason: string) => () => {
  throw new NamedError("ValidationRejected", `{"reasons":["${reason}"],"message":"..."}`);
};

/** What WrapInput makes of an input some later state could not address. */
const wrapped = (input: unknown) => ({
  id: EXECUTION,
  source: "",
  "detail-type": "",
  time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  detail: input,
});

test.each([
  ["a string", "hello"],
  ["an array", [1, 2]],
  ["null", null],
  ["a number", 42],
  ["an empty object", {}],
  ["an object without time and detail", { id: "evt-1", source: "tradeflow.orders", "detail-type": "Order Submitted" }],
])("%s is wrapped, judged by the validator as it came and recorded as a rejection", async (_, input) => {
  const { result, calls } = run(input, {
    ValidateInput: rejectedAs("NOT_AN_EVENT"),
    Validate: recorded,
    Enrich: recorded,
    RecordRejection: recorded,
    SendToFailedQueue: queued,
  });
  await expect(result).resolves.toMatchObject({ recorded: { recorded: true } });
  expect(calls.ValidateInput).toEqual([input]);
  expect(calls.RecordRejection).toEqual([
    {
      ...wrapped(input),
      rejection: { Error: "ValidationRejected", Cause: '{"reasons":["NOT_AN_EVENT"],"message":"..."}' },
    },
  ]);
  expect([calls.Validate, calls.Enrich, calls.SendToFailedQueue]).toEqual([undefined, undefined, undefined]);
});

test("a wrapped input whose rejection cannot be recorded reaches the failed queue whole", async () => {
  const { result, calls } = run("hello", {
    ValidateInput: rejectedAs("NOT_AN_EVENT"),
    RecordRejection: () => {
      throw new NamedError("RecordInputInvalid", "not a RecordRejection state");
    },
    SendToFailedQueue: queued,
  });
  await expect(result).rejects.toMatchObject({ cause: { name: "TradeflowEventFailed" } });
  expect(calls.RecordRejection).toHaveLength(1);
  expect(calls.SendToFailedQueue).toEqual([
    {
      QueueUrl: placeholder("FailedExecutionsQueueUrl"),
      MessageBody: {
        event: wrapped("hello"),
        error: { Error: "RecordInputInvalid", Cause: "not a RecordRejection state" },
      },
    },
  ]);
});

test("a failed-queue message the queue refuses is retried, then sent again without the detail", async () => {
  const refused = "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.";
  const { result, calls } = run(trade, {
    Validate: (input) => validated(input),
    Enrich: () => {
      throw new NamedError("ConfigurationError", "SSM parameter missing");
    },
    SendToFailedQueue: () => {
      throw new NamedError("SQS.InvalidParameterValue", refused);
    },
    SendTruncatedToFailedQueue: queued,
  });
  await expect(result).rejects.toMatchObject({ cause: { name: "TradeflowEventFailed" } });
  expect(calls.SendToFailedQueue).toHaveLength(1 + 3);
  expect(calls.SendTruncatedToFailedQueue).toEqual([
    {
      QueueUrl: placeholder("FailedExecutionsQueueUrl"),
      MessageBody: {
        event: { id: "evt-1", source: trade.source, "detail-type": "Trade Reported", time: trade.time },
        error: { Error: "ConfigurationError", Cause: "SSM parameter missing" },
        truncated: true,
        sendError: { Error: "SQS.InvalidParameterValue", Cause: refused },
        execution: EXECUTION_ARN,
      },
    },
  ]);
});

test("a DependencyUnavailable is retried where it happens; a rejection is not retried at all", async () => {
  let enrichAttempts = 0;
  const { result, calls } = run(trade, {
    Validate: (input) => validated(input),
    Enrich: () => {
      enrichAttempts += 1;
      if (enrichAttempts < 3) throw new NamedError("DependencyUnavailable", "connect ECONNREFUSED 127.0.0.1:4566");
      return {};
    },
    Record: recorded,
  });
  await expect(result).resolves.toMatchObject({ recorded: { recorded: true } });
  expect([calls.Enrich?.length, calls.Validate?.length, calls.Record?.length]).toEqual([3, 1, 1]);

  const rejected = run(order, { Validate: rejectedAs("PRICE_OFF_TICK"), Enrich: recorded, RecordRejection: recorded });
  await rejected.result;
  expect(rejected.calls.Validate).toHaveLength(1);
});
