// The local-stack commands end to end: put-events, inspect and invoke run as child processes against a stack
// started here (stage "cli", its own Redis database and stack file). Needs `npm run build` (the function bundles).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../local/servers";
import type { LocalStack } from "../../local/stack";
import { stackInfo, writeStackFile } from "../../local/stack-file";
import { harnessStack } from "../support/pipeline";
import { REDIS_DB } from "../support/redis-db";

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "tradeflow-cli-"));
const env = {
  ...process.env,
  TRADEFLOW_STACK_FILE: join(dir, "stack.json"),
  // tsx runs on the node that runs the tests.
  PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
};
let stack: LocalStack;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command as a child process: asynchronous, because the stack it talks to runs in this process. */
async function cli(script: string, ...args: string[]): Promise<Run> {
  const tsx = join(repoRoot, "node_modules", ".bin", "tsx");
  try {
    const { stdout, stderr } = await execFileAsync(tsx, [`scripts/${script}.ts`, ...args], { cwd: repoRoot, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function json<T = Record<string, unknown>>(script: string, ...args: string[]): Promise<T> {
  const run = await cli(script, ...args);
  if (run.code !== 0) throw new Error(`${script} ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

beforeAll(async () => {
  stack = await harnessStack("cli", REDIS_DB.localCli);
  writeStackFile(stackInfo(stack), env.TRADEFLOW_STACK_FILE);
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("put-events and inspect", () => {
  let eventIds: string[] = [];

  beforeAll(async () => {
    const run = await cli("put-events", "--entries", "file://events/put-events/orders-crossing.json");
    expect(run.code).toBe(0);
    // The samples name the dev stage's bus; the command sends them to the running stack's.
    expect(run.stderr).toContain("sent to tradeflow-cli");
    const response = JSON.parse(run.stdout) as { FailedEntryCount: number; Entries: { EventId?: string }[] };
    expect(response.FailedEntryCount).toBe(0);
    eventIds = response.Entries.map((e) => String(e.EventId));
    expect(eventIds).toHaveLength(2);
    await stack.idle();
  });

  test("executions lists both events' executions as SUCCEEDED", async () => {
    const executions = await json<{ eventId: string; status: string; name: string }[]>(
      "inspect",
      "executions",
      "--json",
    );
    const ours = executions.filter((e) => eventIds.includes(e.eventId));
    expect(ours.map((e) => e.status)).toEqual(["SUCCEEDED", "SUCCEEDED"]);
  });

  test("depth shows what rests of the buy order", async () => {
    const book = await json("inspect", "depth", "AAPL", "--json");
    expect(book).toMatchObject({ symbol: "AAPL", bids: [{ price: "150.05", quantity: "40", orders: 1 }], asks: [] });
  });

  test("order shows the buy order's state, its versions and its fill", async () => {
    const order = await json<{
      meta: Record<string, unknown>;
      versions: Record<string, unknown>[];
      fills: Record<string, unknown>[];
    }>("inspect", "order", "O-1001", "--json");
    expect(order.meta).toMatchObject({
      status: "PARTIALLY_FILLED",
      quantity: "100",
      filledQuantity: "60",
      remainingQuantity: "40",
      cancelledQuantity: "0",
    });
    // The two orders race: the buy either rested first (then the sell filled it) or crossed the resting sell.
    expect(order.versions.at(-1)).toMatchObject({ status: "PARTIALLY_FILLED", version: order.meta.version });
    expect(order.versions[0]).toMatchObject({ cause: "SUBMIT", idempotencyKey: "O-1001-submit" });
    expect(order.fills).toEqual([
      expect.objectContaining({
        tradeId: "AAPL-1",
        quantity: "60",
        role: order.versions.length === 1 ? "TAKER" : "MAKER",
      }),
    ]);
    expect((await cli("inspect", "order", "O-none")).code).toBe(1);
  });

  test("trades and history", async () => {
    const trades = await json<Record<string, unknown>[]>("inspect", "trades", "AAPL", "--json");
    expect(trades).toEqual([expect.objectContaining({ tradeId: "AAPL-1", quantity: "60", origin: "ENGINE" })]);
    const [latest] = await json<{ name: string }[]>("inspect", "executions", "--limit", "1", "--json");
    const history = await json<{ status: string; states: { state: string; attempts: number }[] }>(
      "inspect",
      "history",
      String(latest?.name),
      "--json",
    );
    expect(history.status).toBe("SUCCEEDED");
    expect(history.states.map((s) => s.state).sort()).toEqual(
      ["Enrich", "IsEvent", "IsOrder", "Match", "ProcessEvent", "Record", "Validate"].sort(),
    );
    expect(history.states.find((s) => s.state === "Match")?.attempts).toBe(1);
  });

  test("order-amend.json keeps the rest in place at 80; order-cancel-all.json then cancels it", async () => {
    const send = async (file: string) => {
      expect((await cli("put-events", "--entries", `file://events/put-events/${file}`)).code).toBe(0);
      await stack.idle();
      return json<{ meta: Record<string, unknown>; versions: Record<string, unknown>[] }>(
        "inspect",
        "order",
        "O-1001",
        "--json",
      );
    };
    const amended = await send("order-amend.json");
    expect(amended.meta).toMatchObject({ quantity: "80", filledQuantity: "60", remainingQuantity: "20" });
    expect(amended.versions.at(-1)).toMatchObject({ cause: "AMEND", quantity: "80" });
    expect(await json("inspect", "depth", "AAPL", "--json")).toMatchObject({
      bids: [{ price: "150.05", quantity: "20", orders: 1 }],
    });
    const cancelled = await send("order-cancel-all.json");
    expect(cancelled.meta).toMatchObject({ status: "CANCELLED", filledQuantity: "60", cancelledQuantity: "20" });
    expect(cancelled.versions.at(-1)).toMatchObject({ cause: "MASS_CANCEL", status: "CANCELLED" });
    expect(await json("inspect", "depth", "AAPL", "--json")).toMatchObject({ bids: [], asks: [] });
  });

  test("put-events --wait follows a rejected order into RecordRejection", async () => {
    const response = await json<{ Executions: { status: string; states: Record<string, unknown>[] }[] }>(
      "put-events",
      "--entries",
      "events/put-events/rejected-order.json",
      "--wait",
      "--json",
    );
    const [execution] = response.Executions;
    expect(execution?.status).toBe("SUCCEEDED");
    expect(execution?.states).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          state: "ProcessEvent",
          caught: { error: "ValidationRejected", next: "RecordRejection" },
        }),
        expect.objectContaining({
          state: "Validate",
          failed: expect.objectContaining({ error: "ValidationRejected" }),
        }),
        expect.objectContaining({ state: "RecordRejection", attempts: 1 }),
      ]),
    );
  });

  test("dlq lists the template's dead-letter queues, and alerts the topics' inboxes", async () => {
    const queues = await json<{ logicalId: string; count: number }[]>("inspect", "dlq", "--json");
    expect(queues.map((q) => q.logicalId).sort()).toEqual([
      "AlertDeadLetterQueue",
      "EventRuleDeadLetterQueue",
      "FailedExecutionsQueue",
    ]);
    expect(queues.every((q) => q.count === 0)).toBe(true);
    const alerts = await json<{ inboxes: { topic: string }[] }>("inspect", "alerts", "--json");
    expect(alerts.inboxes.map((i) => i.topic).sort()).toEqual(Object.keys(stack.topicInboxes).sort());
  });
});

describe("invoke", () => {
  test("the validator returns the validated command", async () => {
    const run = await cli("invoke", "ValidatorFunction", "-e", "events/validator/order-submitted-limit-buy.json");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      kind: "ORDER_SUBMIT",
      command: { type: "LIMIT", orderId: "O-1001", symbol: "AAPL", side: "BUY", price: "150.05", quantity: "100" },
    });
    // Its logs go to stderr.
    expect(run.stderr).toContain("event validated");
  });

  test("a rejected sample exits 1 with Lambda's error", async () => {
    const run = await cli("invoke", "ValidatorFunction", "-e", "events/validator/rejected-price-off-tick.json");
    expect(run.code).toBe(1);
    const error = JSON.parse(run.stdout) as { errorType: string; errorMessage: string; trace: string[] };
    expect(error.errorType).toBe("ValidationRejected");
    expect(error.errorMessage).toContain("PRICE_OFF_TICK");
    expect(error.trace.length).toBeGreaterThan(0);
  });

  test("an unknown function lists the template's", async () => {
    const run = await cli("invoke", "NoSuchFunction", "-e", "{}");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("ValidatorFunction");
  });
});
