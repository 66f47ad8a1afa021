// Hostile input against the gateway, as AWS would answer it: PutEvents sizes, counts, nesting, malformed details
// and bad fields; StartExecution input sizes, names and non-JSON input; unknown operations, garbage and oversized
// bodies on every route; ListRules/DescribeRule/ListTargetsByRule; StartSyncExecution from the aws CLI (v2) and the
// SDK. Each case goes through the real aws CLI or raw HTTP (fetch). One stack serves the file, in its own process,
// so that its resident memory can be measured before and after the run. Needs `npm run build`.
import { execFile, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { SFNClient, StartSyncExecutionCommand } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { Redis } from "ioredis";
import { MAX_JSON_DEPTH } from "../../local/limits";
import { repoRoot } from "../../local/servers";
import type { StackInfo } from "../../local/stack-file";
import { awsCliV1, awsCliV2 } from "../support/aws-cli";
import { drainQueue } from "../support/pipeline";
import { REDIS_DB, redisDbUrl } from "../support/redis-db";

const execFileAsync = promisify(execFile);
const STAGE = "hostile";
const RETAIN = 40;
const redisUrl = redisDbUrl(REDIS_DB.hostile);
const dir = mkdtempSync(join(tmpdir(), "tradeflow-hostile-"));
const counts = new Map<string, number>();
let info: StackInfo;
let child: ReturnType<typeof fork>;
let awsCli = "";
let rssBefore = 0;
let seq = 0;
const pending = new Map<number, (value: unknown) => void>();
const started = Date.now();

function ask<T>(op: string): Promise<T> {
  const id = ++seq;
  return new Promise((resolve) => {
    pending.set(id, resolve as (value: unknown) => void);
    child.send({ id, op });
  });
}

// ---------------------------------------------------------------- clients

interface HttpAnswer {
  status: number;
  type?: string;
  json: Record<string, unknown>;
}

async function http(
  target: string | undefined,
  body: string | Buffer | Readable,
  headers: Record<string, string> = {},
) {
  const init: RequestInit & { duplex?: "half" } = {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      ...(target !== undefined && { "x-amz-target": target }),
      ...headers,
    },
    body: body instanceof Readable ? (Readable.toWeb(body) as ReadableStream) : body,
    ...(body instanceof Readable && { duplex: "half" }),
  };
  const res = await fetch(info.endpoint, init);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, type: typeof json.__type === "string" ? json.__type : undefined, json } as HttpAnswer;
}

const putEvents = (body: unknown) => http("AWSEvents.PutEvents", JSON.stringify(body));
const sfn = (operation: string, body: unknown) => http(`AWSStepFunctions.${operation}`, JSON.stringify(body));

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function aws(args: string[], env: Record<string, string> = {}, cli = awsCli): Promise<CliRun> {
  const fullEnv = {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_DEFAULT_REGION: info.region,
    AWS_MAX_ATTEMPTS: "1",
    AWS_PAGER: "",
    ...env,
  };
  try {
    const { stdout, stderr } = await execFileAsync(cli, ["--endpoint-url", info.endpoint, ...args], {
      env: fullEnv,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** A JSON document as a file the CLI reads with --cli-input-json file://. */
function inputFile(document: unknown): string {
  const path = join(dir, `${randomUUID()}.json`);
  writeFileSync(path, JSON.stringify(document));
  return `file://${path}`;
}

/** The CLI's service error: its code and message from "An error occurred (Code) when calling ...: message". */
function cliError(run: CliRun): string | undefined {
  return /An error occurred \(([^)]+)\)/.exec(run.stderr)?.[1];
}

// ---------------------------------------------------------------- cases

function hostile(cls: string, name: string, fn: () => Promise<void>): void {
  counts.set(cls, (counts.get(cls) ?? 0) + 1);
  test(`${cls}: ${name}`, fn);
}

const NOWHERE = "hostile.nowhere"; // a source no rule matches: accepted events go no further
const sized = (detailBytes: number, extra: Record<string, unknown> = {}) => ({
  Source: NOWHERE,
  DetailType: "x",
  // {"a":"…"} is 8 bytes of syntax
  Detail: JSON.stringify({ a: "a".repeat(detailBytes - 8) }),
  ...extra,
});
const nested = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;
const onBus = (entry: Record<string, unknown>) => ({ EventBusName: info.busName, ...entry });

async function expectAccepted(entries: unknown[]) {
  const out = await putEvents({ Entries: entries });
  expect(out.status).toBe(200);
  expect(out.json.FailedEntryCount).toBe(0);
  return out.json.Entries as { EventId: string }[];
}

async function expectEntryError(entry: unknown, code: string) {
  const out = await putEvents({ Entries: [entry] });
  expect(out.status).toBe(200);
  expect(out.json).toMatchObject({ FailedEntryCount: 1, Entries: [{ ErrorCode: code }] });
}

async function expectRefused(out: HttpAnswer | Promise<HttpAnswer>, status: number, type: string) {
  const answer = await out;
  expect({ status: answer.status, type: answer.type }).toEqual({ status, type });
}

beforeAll(async () => {
  awsCli = awsCliV2();
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  await redis.quit();
  child = fork(join(repoRoot, "tests", "support", "stack-process.ts"), [], {
    cwd: repoRoot,
    execArgv: ["--import", "tsx", "--expose-gc"],
    env: { ...process.env, STACK_REDIS_URL: redisUrl, STACK_STAGE: STAGE, STACK_RETAIN_EXECUTIONS: String(RETAIN) },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  info = await new Promise<StackInfo>((resolve, reject) => {
    child.on("message", (m: { ready?: StackInfo; id?: number; value?: unknown }) => {
      if (m.ready) resolve(m.ready);
      else if (m.id !== undefined) pending.get(m.id)?.(m.value);
    });
    child.once("exit", (code) => reject(new Error(`the stack process exited ${code}`)));
  });
  // Warm: one order through the whole pipeline, so that the containers it starts count before the run.
  await expectAccepted([
    onBus({
      Source: "tradeflow.orders",
      DetailType: "Order Submitted",
      Detail: JSON.stringify({
        clientId: "C-1001",
        orderId: "O-WARM",
        symbol: "AAPL",
        side: "BUY",
        type: "LIMIT",
        price: "100.00",
        quantity: "1",
        timeInForce: "GTC",
        postOnly: false,
      }),
    }),
  ]);
  await ask("idle");
  rssBefore = await ask<number>("rss");
});

afterAll(async () => {
  if (child?.connected) await ask("stop");
  rmSync(dir, { recursive: true, force: true });
  const lines = [...counts].map(([cls, n]) => `  ${cls.padEnd(22)} ${n}`);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    `hostile cases by class:\n${lines.join("\n")}\n  ${"total".padEnd(22)} ${total}  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
});

// ---------------------------------------------------------------- PutEvents: size and count

describe("PutEvents size and count", () => {
  const cls = "putevents-size";
  hostile(cls, "10 entries of 30 KB (300 KB) are refused whole", () =>
    expectRefused(
      putEvents({ Entries: Array.from({ length: 10 }, () => sized(30 * 1024)) }),
      400,
      "ValidationException",
    ),
  );
  hostile(cls, "the same through the CLI", async () => {
    const run = await aws([
      "events",
      "put-events",
      "--cli-input-json",
      inputFile({ Entries: Array.from({ length: 10 }, () => sized(30 * 1024)) }),
    ]);
    expect(run.code).toBe(254);
    expect(cliError(run)).toBe("ValidationException");
    expect(run.stderr).toContain("Total size of the entries in the request is over the limit.");
  });
  hostile(cls, "one entry of exactly 262,144 bytes is accepted", async () => {
    // Source 15 bytes + DetailType 1 + Detail
    await expectAccepted([sized(262_144 - NOWHERE.length - 1)]);
  });
  hostile(cls, "one byte more is refused", () =>
    expectRefused(putEvents({ Entries: [sized(262_145 - NOWHERE.length - 1)] }), 400, "ValidationException"),
  );
  hostile(cls, "Time counts 14 bytes", () =>
    expectRefused(
      putEvents({ Entries: [sized(262_144 - NOWHERE.length - 1 - 13, { Time: 1_700_000_000 })] }),
      400,
      "ValidationException",
    ),
  );
  hostile(cls, "with Time at exactly the limit it is accepted", () =>
    expectAccepted([sized(262_144 - NOWHERE.length - 1 - 14, { Time: 1_700_000_000 })]).then(() => undefined),
  );
  hostile(cls, "Resources count by their bytes", () =>
    expectRefused(
      putEvents({ Entries: [sized(200_000, { Resources: Array.from({ length: 7 }, () => "r".repeat(10_000)) })] }),
      400,
      "ValidationException",
    ),
  );
  hostile(cls, "multibyte details count UTF-8 bytes, not characters", () =>
    expectRefused(
      putEvents({
        Entries: [{ Source: NOWHERE, DetailType: "x", Detail: JSON.stringify({ a: "é".repeat(131_072) }) }],
      }),
      400,
      "ValidationException",
    ),
  );
  hostile(cls, "a 140 KB detail of escaped quotes is measured as sent and accepted", async () => {
    await expectAccepted([{ Source: NOWHERE, DetailType: "x", Detail: JSON.stringify({ q: '"'.repeat(70 * 1024) }) }]);
  });
  hostile(cls, "the same through the CLI", async () => {
    const run = await aws([
      "events",
      "put-events",
      "--cli-input-json",
      inputFile({
        Entries: [{ Source: NOWHERE, DetailType: "x", Detail: JSON.stringify({ q: '"'.repeat(70 * 1024) }) }],
      }),
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ FailedEntryCount: 0 });
  });
  hostile(cls, "256 KB of control characters (a 1.5 MB body) is under the body cap and accepted", async () => {
    await expectAccepted([
      { Source: NOWHERE, DetailType: "x", Detail: JSON.stringify({ c: "\u0001".repeat(43_000) }) },
    ]);
  });
  hostile(cls, "11 entries are refused with AWS's message", async () => {
    const out = await putEvents({ Entries: Array.from({ length: 11 }, () => sized(100)) });
    expect(out.status).toBe(400);
    expect(out.json).toEqual({
      __type: "ValidationException",
      message:
        "1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10",
    });
  });
  hostile(cls, "11 entries through the CLI", async () => {
    const run = await aws([
      "events",
      "put-events",
      "--cli-input-json",
      inputFile({ Entries: Array.from({ length: 11 }, () => sized(100)) }),
    ]);
    expect(cliError(run)).toBe("ValidationException");
  });
  hostile(cls, "0 entries are refused", () => expectRefused(putEvents({ Entries: [] }), 400, "ValidationException"));
  hostile(cls, "the CLI refuses 0 entries itself", async () => {
    const run = await aws(["events", "put-events", "--entries", "[]"]);
    expect(run.code).toBe(252);
  });
  hostile(cls, "10 entries are accepted", async () => {
    expect(await expectAccepted(Array.from({ length: 10 }, () => sized(100)))).toHaveLength(10);
  });
  hostile(cls, "10 entries totalling 256 KB are accepted", async () => {
    expect(await expectAccepted(Array.from({ length: 10 }, () => sized(26_214 - NOWHERE.length - 1)))).toHaveLength(10);
  });
});

// ---------------------------------------------------------------- PutEvents: nesting

describe("PutEvents nesting", () => {
  const cls = "putevents-nesting";
  hostile(cls, `a detail ${MAX_JSON_DEPTH} levels deep is accepted`, () =>
    expectAccepted([{ Source: NOWHERE, DetailType: "x", Detail: nested(MAX_JSON_DEPTH) }]).then(() => undefined),
  );
  for (const depth of [MAX_JSON_DEPTH + 1, 3_000, 10_000, 40_000])
    hostile(cls, `a detail ${depth} levels deep is MalformedDetail`, () =>
      expectEntryError({ Source: NOWHERE, DetailType: "x", Detail: nested(depth) }, "MalformedDetail"),
    );
  hostile(cls, "arrays count as levels", () =>
    expectEntryError(
      { Source: NOWHERE, DetailType: "x", Detail: `{"a":${"[".repeat(1_000)}${"]".repeat(1_000)}}` },
      "MalformedDetail",
    ),
  );
  hostile(cls, "brackets inside strings do not", () =>
    expectAccepted([{ Source: NOWHERE, DetailType: "x", Detail: JSON.stringify({ a: "[{".repeat(5_000) }) }]).then(
      () => undefined,
    ),
  );
  hostile(cls, "10,000 deep through the CLI", async () => {
    const run = await aws([
      "events",
      "put-events",
      "--cli-input-json",
      inputFile({ Entries: [{ Source: NOWHERE, DetailType: "x", Detail: nested(10_000) }] }),
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ FailedEntryCount: 1, Entries: [{ ErrorCode: "MalformedDetail" }] });
  });
  hostile(cls, "a routed order 1,000 levels deep becomes an execution", async () => {
    const detail = JSON.stringify({
      clientId: "C-1001",
      orderId: "O-DEEP",
      symbol: "AAPL",
      side: "BUY",
      quantity: "1",
      deep: JSON.parse(nested(MAX_JSON_DEPTH - 1)),
    });
    const [entry] = await expectAccepted([
      onBus({ Source: "tradeflow.orders", DetailType: "Order Submitted", Detail: detail }),
    ]);
    await ask("idle");
    const list = await sfn("ListExecutions", { stateMachineArn: info.stateMachineArn, maxResults: 1000 });
    const executions = list.json.executions as { executionArn: string }[];
    const described = await Promise.all(
      executions.map((e) => sfn("DescribeExecution", { executionArn: e.executionArn })),
    );
    expect(described.some((d) => String(d.json.input).includes(String(entry?.EventId)))).toBe(true);
  });
  hostile(cls, "a routed event the target refuses (input over 256 KB) ends in the rule's DLQ", async () => {
    // The entry at exactly the limit: its envelope (id, account, time...) is then over StartExecution's 256 KB.
    const order = { clientId: "C-1001", orderId: "O-HUGE", symbol: "AAPL", side: "BUY", quantity: "1", pad: "" };
    const room = 262_144 - "tradeflow.orders".length - "Order Submitted".length - JSON.stringify(order).length;
    const detail = JSON.stringify({ ...order, pad: "p".repeat(room) });
    const [entry] = await expectAccepted([
      onBus({ Source: "tradeflow.orders", DetailType: "Order Submitted", Detail: detail }),
    ]);
    await ask("idle");
    const sqs = new SQSClient({ endpoint: info.motoEndpoint, region: info.region });
    const letters = await drainQueue(sqs, String(info.queues.EventRuleDeadLetterQueue));
    sqs.destroy();
    const letter = letters.find((m) => m.Body?.includes(String(entry?.EventId)));
    expect(letter?.MessageAttributes?.ERROR_CODE?.StringValue).toBe("InvalidExecutionInput");
    expect(letter?.MessageAttributes?.EXHAUSTED_RETRY_CONDITION?.StringValue).toBe("MaximumRetryAttemptsExhausted");
  });
});

// ---------------------------------------------------------------- PutEvents: malformed details and bad fields

describe("PutEvents malformed details", () => {
  const cls = "putevents-malformed";
  const details = [
    "{",
    "not json",
    "[]",
    "[1,2]",
    "1",
    '"text"',
    "null",
    "true",
    '{"a":}',
    '{"a":1,}',
    "",
    "{'a':1}",
    '{"a":1}x',
    "\u0000",
  ];
  for (const detail of details)
    hostile(cls, `Detail ${JSON.stringify(detail)} is MalformedDetail`, () =>
      expectEntryError({ Source: NOWHERE, DetailType: "x", Detail: detail }, "MalformedDetail"),
    );
  hostile(cls, "an empty object is a valid detail", () =>
    expectAccepted([{ Source: NOWHERE, DetailType: "x", Detail: "{}" }]).then(() => undefined),
  );
  hostile(cls, "a malformed detail through the CLI", async () => {
    const run = await aws([
      "events",
      "put-events",
      "--entries",
      JSON.stringify([{ Source: NOWHERE, DetailType: "x", Detail: "{" }]),
    ]);
    expect(JSON.parse(run.stdout)).toMatchObject({ FailedEntryCount: 1, Entries: [{ ErrorCode: "MalformedDetail" }] });
  });
});

describe("PutEvents bad fields", () => {
  const cls = "putevents-fields";
  for (const missing of ["Source", "DetailType", "Detail"])
    hostile(cls, `no ${missing} is InvalidArgument`, () => {
      const entry: Record<string, string> = { Source: NOWHERE, DetailType: "x", Detail: "{}" };
      delete entry[missing];
      return expectEntryError(entry, "InvalidArgument");
    });
  hostile(cls, "an empty Source is InvalidArgument", () =>
    expectEntryError({ Source: "", DetailType: "x", Detail: "{}" }, "InvalidArgument"),
  );
  hostile(cls, "an unknown bus is ResourceNotFoundException", () =>
    expectEntryError(
      { Source: NOWHERE, DetailType: "x", Detail: "{}", EventBusName: "no-such-bus" },
      "ResourceNotFoundException",
    ),
  );
  hostile(cls, "the bus by ARN is accepted", async () => {
    const { json } = await http(
      "AWSEvents.DescribeRule",
      JSON.stringify({ Name: `tradeflow-${STAGE}-orders`, EventBusName: info.busName }),
    );
    const busArn = String(json.Arn).replace(/:rule\/([^/]+)\/.*/, ":event-bus/$1");
    await expectAccepted([{ Source: NOWHERE, DetailType: "x", Detail: "{}", EventBusName: busArn }]);
  });
  hostile(cls, "one bad entry among good ones fails alone", async () => {
    const out = await putEvents({
      Entries: [sized(100), { Source: NOWHERE, DetailType: "x", Detail: "{" }, sized(100)],
    });
    expect(out.json.FailedEntryCount).toBe(1);
    expect((out.json.Entries as { ErrorCode?: string; EventId?: string }[]).map((e) => e.ErrorCode ?? "ok")).toEqual([
      "ok",
      "MalformedDetail",
      "ok",
    ]);
  });
  hostile(cls, "Resources that are not a list are a ValidationException", () =>
    expectRefused(putEvents({ Entries: [{ ...sized(100), Resources: "r" }] }), 400, "ValidationException"),
  );
  hostile(cls, "a numeric Source is a ValidationException", () =>
    expectRefused(putEvents({ Entries: [{ ...sized(100), Source: 7 }] }), 400, "ValidationException"),
  );
  hostile(cls, "Entries that are not a list are a ValidationException", () =>
    expectRefused(putEvents({ Entries: {} }), 400, "ValidationException"),
  );
  hostile(cls, "no Entries is a ValidationException", () => expectRefused(putEvents({}), 400, "ValidationException"));
});

// ---------------------------------------------------------------- StartExecution

describe("StartExecution input and names", () => {
  const cls = "startexecution";
  const start = (body: Record<string, unknown>) =>
    sfn("StartExecution", { stateMachineArn: info.stateMachineArn, ...body });
  hostile(cls, "an input of exactly 262,144 bytes is accepted", async () => {
    const out = await start({ input: JSON.stringify({ a: "a".repeat(262_144 - 8) }) });
    expect(out.status).toBe(200);
    expect(String(out.json.executionArn)).toContain(info.stateMachineArn.split(":stateMachine:")[1]);
  });
  hostile(cls, "one byte more is InvalidExecutionInput", () =>
    expectRefused(start({ input: JSON.stringify({ a: "a".repeat(262_145 - 8) }) }), 400, "InvalidExecutionInput"),
  );
  hostile(cls, "300 KB through the CLI", async () => {
    const run = await aws([
      "stepfunctions",
      "start-execution",
      "--cli-input-json",
      inputFile({ stateMachineArn: info.stateMachineArn, input: JSON.stringify({ a: "a".repeat(300_000) }) }),
    ]);
    expect(cliError(run)).toBe("InvalidExecutionInput");
  });
  hostile(cls, "an 8 MB input is refused at the body cap with 413", () =>
    expectRefused(
      start({ input: JSON.stringify({ a: "a".repeat(8 * 1024 * 1024) }) }),
      413,
      "RequestEntityTooLargeException",
    ),
  );
  hostile(cls, "8 MB through the CLI", async () => {
    const run = await aws([
      "stepfunctions",
      "start-execution",
      "--cli-input-json",
      inputFile({ stateMachineArn: info.stateMachineArn, input: JSON.stringify({ a: "a".repeat(8 * 1024 * 1024) }) }),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("RequestEntityTooLargeException");
  });
  for (const input of ["not json", "{", "", "{'a':1}", '{"a":1}}'])
    hostile(cls, `input ${JSON.stringify(input)} is InvalidExecutionInput`, () =>
      expectRefused(start({ input }), 400, "InvalidExecutionInput"),
    );
  hostile(cls, "non-JSON input through the CLI", async () => {
    const run = await aws([
      "stepfunctions",
      "start-execution",
      "--state-machine-arn",
      info.stateMachineArn,
      "--input",
      "not json",
    ]);
    expect(cliError(run)).toBe("InvalidExecutionInput");
  });
  hostile(cls, "a name of 80 characters is accepted", async () => {
    expect((await start({ name: "n".repeat(80), input: "{}" })).status).toBe(200);
  });
  hostile(cls, "80 characters of accented letters are 80 characters", async () => {
    expect((await start({ name: "é".repeat(80), input: "{}" })).status).toBe(200);
  });
  hostile(cls, "81 characters are InvalidName", () =>
    expectRefused(start({ name: "n".repeat(81) }), 400, "InvalidName"),
  );
  hostile(cls, "an empty name is InvalidName", () => expectRefused(start({ name: "" }), 400, "InvalidName"));
  hostile(cls, "the CLI refuses an empty name itself", async () => {
    expect(
      (await aws(["stepfunctions", "start-execution", "--state-machine-arn", info.stateMachineArn, "--name", ""])).code,
    ).toBe(252);
  });
  const forbidden = [
    " ",
    "\t",
    "\n",
    "<",
    ">",
    "{",
    "}",
    "[",
    "]",
    "?",
    "*",
    '"',
    "#",
    "%",
    "\\",
    "^",
    "|",
    "~",
    "`",
    "$",
    "&",
    ",",
    ";",
    ":",
    "/",
    "\u0000",
    "\u001f",
    "\u007f",
    "\u0085",
    "\u009f",
    "\ufffe",
    "\uffff",
    "\ud800",
  ];
  for (const c of forbidden)
    hostile(cls, `a name with ${JSON.stringify(c)} is InvalidName`, () =>
      expectRefused(start({ name: `bad${c}name` }), 400, "InvalidName"),
    );
  hostile(cls, "a name with a space through the CLI", async () => {
    const run = await aws([
      "stepfunctions",
      "start-execution",
      "--state-machine-arn",
      info.stateMachineArn,
      "--name",
      "two words",
    ]);
    expect(cliError(run)).toBe("InvalidName");
  });
  hostile(cls, "an unknown state machine is StateMachineDoesNotExist", () =>
    expectRefused(
      start({ stateMachineArn: info.stateMachineArn.replace(/[^:]+$/, "nope") }),
      400,
      "StateMachineDoesNotExist",
    ),
  );
  hostile(cls, "a state machine ARN that is no ARN is InvalidArn", () =>
    expectRefused(start({ stateMachineArn: "nope" }), 400, "InvalidArn"),
  );
  hostile(cls, "no stateMachineArn is a ValidationException", () =>
    expectRefused(sfn("StartExecution", { input: "{}" }), 400, "ValidationException"),
  );
  hostile(
    cls,
    "the same name and input return the same execution; another input is ExecutionAlreadyExists",
    async () => {
      const name = `same-${randomUUID()}`;
      const first = await start({ name, input: "{}" });
      const again = await start({ name, input: "{}" });
      expect(again.json.executionArn).toBe(first.json.executionArn);
      await expectRefused(start({ name, input: '{"b":1}' }), 400, "ExecutionAlreadyExists");
    },
  );
});

// ---------------------------------------------------------------- unknown operations, garbage and oversized bodies

describe("routes", () => {
  const cls = "routes";
  for (const target of [
    "AWSStepFunctions.StopExecution",
    "AWSStepFunctions.Nope",
    "Foo.Bar",
    "AmazonS3.ListBuckets",
    "x",
  ])
    hostile(cls, `X-Amz-Target ${target} is UnknownOperationException`, () =>
      expectRefused(http(target, "{}"), 400, "UnknownOperationException"),
    );
  hostile(cls, "no X-Amz-Target is UnknownOperationException, not moto's S3 bucket list", () =>
    expectRefused(http(undefined, "{}"), 400, "UnknownOperationException"),
  );
  hostile(cls, "GET / is UnknownOperationException", async () => {
    const res = await fetch(info.endpoint);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ __type: "UnknownOperationException" });
  });
  hostile(cls, "the CLI's s3 is refused", async () => {
    const run = await aws(["s3api", "list-buckets"]);
    expect(run.code).not.toBe(0);
    expect(run.stdout).not.toContain("Buckets");
  });
  hostile(cls, "DynamoDB still passes", async () => {
    const out = await http("DynamoDB_20120810.ListTables", "{}", {
      "content-type": "application/x-amz-json-1.0",
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20240101/${info.region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    });
    expect(out.status).toBe(200);
    expect(out.json.TableNames).toEqual(expect.arrayContaining([Object.values(info.tables)[0]]));
  });
  hostile(cls, "SQS's query protocol still passes", async () => {
    const run = await aws(["sqs", "list-queues", "--queue-name-prefix", `tradeflow-${STAGE}`]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).QueueUrls.length).toBeGreaterThan(0);
  });
  hostile(cls, "SSM still passes", async () => {
    const run = await aws(["ssm", "get-parameters-by-path", "--path", `/tradeflow/${STAGE}`, "--recursive"]);
    expect(run.code).toBe(0);
  });
  for (const [target, body, type] of [
    ["AWSEvents.PutEvents", "not json", "SerializationException"],
    ["AWSEvents.PutEvents", "[]", "ValidationException"],
    ["AWSEvents.PutEvents", "null", "ValidationException"],
    ["AWSStepFunctions.StartExecution", "{", "SerializationException"],
    ["AWSStepFunctions.DescribeExecution", "\u00ff\u00fe\u0000garbage", "SerializationException"],
    ["AWSStepFunctions.ListExecutions", "42", "ValidationException"],
    ["AWSEvents.ListRules", '{"Limit":"many"}', "ValidationException"],
  ] as const)
    hostile(cls, `${target} with body ${JSON.stringify(body)} is ${type}`, () =>
      expectRefused(http(target, body), 400, type),
    );
  const oversized: [string, number, number, string][] = [
    ["AWSEvents.PutEvents", 50 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["AWSStepFunctions.StartExecution", 8 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["AWSStepFunctions.StartSyncExecution", 3 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["AWSStepFunctions.DescribeExecution", 3 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["AWSEvents.ListRules", 3 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["DynamoDB_20120810.PutItem", 20 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["AmazonSQS.SendMessage", 20 * 1024 * 1024, 413, "RequestEntityTooLargeException"],
    ["Unknown.Op", 20 * 1024 * 1024, 400, "UnknownOperationException"],
  ];
  for (const [target, bytes, status, type] of oversized)
    hostile(cls, `${bytes >> 20} MB to ${target} is ${status} ${type}`, () =>
      expectRefused(http(target, Buffer.alloc(bytes, 0x20)), status, type),
    );
  hostile(cls, "20 MB of form body to moto (the query protocol) is 413", () =>
    expectRefused(
      http(undefined, Buffer.alloc(20 * 1024 * 1024, 0x61), { "content-type": "application/x-www-form-urlencoded" }),
      413,
      "RequestEntityTooLargeException",
    ),
  );
  const chunked = (bytes: number) =>
    Readable.from(
      (function* () {
        for (let i = 0; i < bytes; i += 65_536) yield Buffer.alloc(65_536, 0x20);
      })(),
    );
  hostile(cls, "a chunked 3 MB PutEvents body (no length) is 413", () =>
    expectRefused(http("AWSEvents.PutEvents", chunked(3 * 1024 * 1024)), 413, "RequestEntityTooLargeException"),
  );
  hostile(cls, "a chunked 17 MB DynamoDB body is 413", () =>
    expectRefused(
      http("DynamoDB_20120810.PutItem", chunked(17 * 1024 * 1024), { "content-type": "application/x-amz-json-1.0" }),
      413,
      "RequestEntityTooLargeException",
    ),
  );
  hostile(cls, "the connection still serves after a 413", async () => {
    await http("AWSEvents.PutEvents", Buffer.alloc(3 * 1024 * 1024, 0x20));
    expect((await sfn("ListStateMachines", {})).status).toBe(200);
  });
});

// ---------------------------------------------------------------- ListRules, DescribeRule, ListTargetsByRule

describe("rules", () => {
  const cls = "rules";
  const ruleNames = () => [`tradeflow-${STAGE}-api-orders`, `tradeflow-${STAGE}-orders`, `tradeflow-${STAGE}-trades`];
  hostile(cls, "aws events list-rules --event-bus-name lists the template's rules", async () => {
    const run = await aws(["events", "list-rules", "--event-bus-name", info.busName]);
    const rules = JSON.parse(run.stdout).Rules as { Name: string; State: string; EventBusName: string }[];
    expect(rules.map((r) => r.Name).sort()).toEqual(ruleNames());
    expect(rules.every((r) => r.State === "ENABLED" && r.EventBusName === info.busName)).toBe(true);
  });
  hostile(cls, "--name-prefix filters", async () => {
    const run = await aws([
      "events",
      "list-rules",
      "--event-bus-name",
      info.busName,
      "--name-prefix",
      `tradeflow-${STAGE}-tr`,
    ]);
    expect(JSON.parse(run.stdout).Rules.map((r: { Name: string }) => r.Name)).toEqual([`tradeflow-${STAGE}-trades`]);
  });
  hostile(cls, "the default bus has none", async () => {
    expect(JSON.parse((await aws(["events", "list-rules"])).stdout).Rules).toEqual([]);
  });
  hostile(cls, "an unknown bus is ResourceNotFoundException", async () => {
    expect(cliError(await aws(["events", "list-rules", "--event-bus-name", "no-such-bus"]))).toBe(
      "ResourceNotFoundException",
    );
  });
  hostile(cls, "describe-rule gives the template's pattern", async () => {
    const run = await aws([
      "events",
      "describe-rule",
      "--name",
      `tradeflow-${STAGE}-trades`,
      "--event-bus-name",
      info.busName,
    ]);
    const rule = JSON.parse(run.stdout);
    expect(JSON.parse(rule.EventPattern)).toEqual({
      source: ["tradeflow.venue.alpha", "tradeflow.venue.beta", "tradeflow.venue.gamma"],
      "detail-type": ["Trade Reported"],
    });
    expect(rule.Arn).toMatch(new RegExp(`:rule/${info.busName}/tradeflow-${STAGE}-trades$`));
  });
  hostile(cls, "describe-rule of an unknown rule is ResourceNotFoundException", async () => {
    const run = await aws(["events", "describe-rule", "--name", "nope", "--event-bus-name", info.busName]);
    expect(cliError(run)).toBe("ResourceNotFoundException");
    expect(run.stderr).toContain(`Rule nope does not exist on EventBus ${info.busName}.`);
  });
  hostile(cls, "list-targets-by-rule gives the state machine, retry policy and DLQ", async () => {
    const run = await aws([
      "events",
      "list-targets-by-rule",
      "--rule",
      `tradeflow-${STAGE}-orders`,
      "--event-bus-name",
      info.busName,
    ]);
    expect(JSON.parse(run.stdout).Targets).toEqual([
      expect.objectContaining({
        Arn: info.stateMachineArn,
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: expect.stringContaining(`tradeflow-${STAGE}-event-rule-dlq`) },
      }),
    ]);
  });
  hostile(cls, "Limit 1 pages with NextToken", async () => {
    const names: string[] = [];
    let token: unknown;
    do {
      const page = await http(
        "AWSEvents.ListRules",
        JSON.stringify({ EventBusName: info.busName, Limit: 1, NextToken: token }),
      );
      const rules = page.json.Rules as { Name: string }[];
      expect(rules).toHaveLength(1);
      names.push(...rules.map((r) => r.Name));
      token = page.json.NextToken;
    } while (token !== undefined);
    expect(names.sort()).toEqual(ruleNames());
  });
  hostile(cls, "Limit 0 is a ValidationException", () =>
    expectRefused(
      http("AWSEvents.ListRules", JSON.stringify({ EventBusName: info.busName, Limit: 0 })),
      400,
      "ValidationException",
    ),
  );
  hostile(cls, "a forged NextToken is a ValidationException", () =>
    expectRefused(
      http("AWSEvents.ListRules", JSON.stringify({ EventBusName: info.busName, NextToken: "!!" })),
      400,
      "ValidationException",
    ),
  );
});

// ---------------------------------------------------------------- StartSyncExecution

describe("StartSyncExecution", () => {
  const cls = "sync-execution";
  const envelope = (orderId: string) =>
    JSON.stringify({
      version: "0",
      id: randomUUID(),
      "detail-type": "Order Submitted",
      source: "tradeflow.orders",
      account: "123456789012",
      time: `${new Date().toISOString().slice(0, 19)}Z`,
      region: info.region,
      resources: [],
      detail: {
        clientId: "C-1001",
        orderId,
        symbol: "AAPL",
        side: "BUY",
        type: "LIMIT",
        price: "99.00",
        quantity: "1",
        timeInForce: "GTC",
        postOnly: false,
      },
    });
  const viaProxy = () => ({ HTTP_PROXY: info.endpoint });
  hostile(cls, "the CLI reaches it through the gateway as its HTTP proxy", async () => {
    const run = await aws(
      [
        "stepfunctions",
        "start-sync-execution",
        "--state-machine-arn",
        info.stateMachineArn,
        "--input",
        envelope("O-SYNC-CLI"),
      ],
      viaProxy(),
    );
    expect(run.stderr).toBe("");
    const out = JSON.parse(run.stdout);
    expect(out.status).toBe("SUCCEEDED");
    expect(JSON.parse(out.output)).toBeDefined();
  });
  hostile(cls, "the CLI v1 reaches it the same way", async () => {
    const run = await aws(
      [
        "stepfunctions",
        "start-sync-execution",
        "--state-machine-arn",
        info.stateMachineArn,
        "--input",
        envelope("O-SYNC-CLI-V1"),
      ],
      viaProxy(),
      awsCliV1(),
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout).status).toBe("SUCCEEDED");
  });
  hostile(cls, "without the proxy the CLI cannot resolve sync-127.0.0.1", async () => {
    const run = await aws([
      "stepfunctions",
      "start-sync-execution",
      "--state-machine-arn",
      info.stateMachineArn,
      "--input",
      "{}",
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("sync-127.0.0.1");
  });
  hostile(cls, "the SDK with disableHostPrefix", async () => {
    const client = new SFNClient({ endpoint: info.endpoint, region: info.region, disableHostPrefix: true });
    const out = await client.send(
      new StartSyncExecutionCommand({ stateMachineArn: info.stateMachineArn, input: envelope("O-SYNC-SDK") }),
    );
    client.destroy();
    expect(out.status).toBe("SUCCEEDED");
  });
  hostile(cls, "an invalid name through the proxy is InvalidName", async () => {
    const run = await aws(
      [
        "stepfunctions",
        "start-sync-execution",
        "--state-machine-arn",
        info.stateMachineArn,
        "--name",
        "a/b",
        "--input",
        "{}",
      ],
      viaProxy(),
    );
    expect(cliError(run)).toBe("InvalidName");
  });
  hostile(cls, "an oversized input through the proxy is InvalidExecutionInput", async () => {
    const run = await aws(
      [
        "stepfunctions",
        "start-sync-execution",
        "--cli-input-json",
        inputFile({ stateMachineArn: info.stateMachineArn, input: JSON.stringify({ a: "a".repeat(300_000) }) }),
      ],
      viaProxy(),
    );
    expect(cliError(run)).toBe("InvalidExecutionInput");
  });
  hostile(cls, "raw HTTP with non-JSON input is InvalidExecutionInput", () =>
    expectRefused(
      sfn("StartSyncExecution", { stateMachineArn: info.stateMachineArn, input: "nope" }),
      400,
      "InvalidExecutionInput",
    ),
  );
  hostile(cls, "other calls work through the proxy too", async () => {
    const run = await aws(["stepfunctions", "list-state-machines"], viaProxy());
    expect(JSON.parse(run.stdout).stateMachines[0].stateMachineArn).toBe(info.stateMachineArn);
  });
});

// ---------------------------------------------------------------- bounded memory (last: it needs the run's executions)

describe("bounded memory", () => {
  const cls = "memory";
  let oldest = "";
  beforeAll(async () => {
    const first = await sfn("StartExecution", { stateMachineArn: info.stateMachineArn, input: "{}" });
    oldest = String(first.json.executionArn);
    // Finished before the others start: a running execution is never dropped, and executions finish in any order.
    await ask("idle");
    for (let i = 0; i < RETAIN + 5; i++)
      await sfn("StartExecution", { stateMachineArn: info.stateMachineArn, input: "{}" });
    await ask("idle");
  });
  hostile(cls, `only the last ${RETAIN} executions are kept`, async () => {
    const list = await sfn("ListExecutions", { stateMachineArn: info.stateMachineArn, maxResults: 1000 });
    expect((list.json.executions as unknown[]).length).toBeLessThanOrEqual(RETAIN);
  });
  hostile(cls, "an evicted execution is ExecutionDoesNotExist for DescribeExecution", () =>
    expectRefused(sfn("DescribeExecution", { executionArn: oldest }), 400, "ExecutionDoesNotExist"),
  );
  hostile(cls, "and for GetExecutionHistory, through the CLI", async () => {
    expect(cliError(await aws(["stepfunctions", "get-execution-history", "--execution-arn", oldest]))).toBe(
      "ExecutionDoesNotExist",
    );
  });
  hostile(cls, "resident memory comes back after the run", async () => {
    const after = await ask<number>("rss");
    const grown = (after - rssBefore) / 1024 / 1024;
    process.stdout.write(
      `stack RSS: ${(rssBefore / 1048576).toFixed(0)} MB before, ${(after / 1048576).toFixed(0)} MB after (${grown.toFixed(0)} MB)\n`,
    );
    expect(grown).toBeLessThan(150);
  });
});
