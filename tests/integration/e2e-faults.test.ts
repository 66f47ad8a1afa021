// Redis dies mid-stream. A seeded stream of a few hundred orders and cancels over three symbols goes through
// PutEvents while redis-server is killed (SIGKILL) and started again on the same port and append-only file. The
// matcher's MatcherUnavailableError is retried by the ASL (Match: 4 retries), the functions' ioredis connections
// reconnect on their own, and afterwards nothing is lost or doubled: every execution succeeded, every order has
// its one META equal to the engine's view of it, trade ids are contiguous per symbol, the compliance table's trades
// are exactly the engine's, and quantity is conserved per order and per symbol.
//
// This suite starts its own stack (its own redis-server, DynamoDB Local and moto): it kills its Redis.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Trade } from "@tradeflow/common/orderbook";
import { type LocalServer, startRedis } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/stepfunctions/workflow";
import { expectAllRecorded, faultStream, type SentOrder, streamEvents } from "../support/faults";
import { envelopeOf, outputOf, type PipelineClients, pipelineClients } from "../support/pipeline";

const SEED = 424242;
const EVENTS = 300;
/** Executions allowed in flight while streaming: what this machine's DynamoDB Local absorbs well within timeouts. */
const IN_FLIGHT = 16;
/** Redis dies once this many events have been put. */
const KILL_AFTER = 100;
/**
 * Every Task retry waits this long (the ASL's 1 s × 2^n with jitter, compressed and made constant). Match retries 4
 * times, so an execution whose Match meets a dead Redis keeps trying for at least 4 × 2 s = 8 s; Redis is back after
 * at most OUTAGE_MAX_MS plus ioredis' reconnect delay (≤ 1 s). Ample on a loaded two-core machine.
 */
const TASK_RETRY_MS = 2000;
const OUTAGE_MIN_MS = 1500;
const OUTAGE_MAX_MS = 4000;

const matchRetries = (e: Execution) =>
  e.trace.filter((s) => s.state === "Match").flatMap((s) => s.retries.map((r) => r.error));

let dataDir: string;
let stack: LocalStack;
let c: PipelineClients;
let restart: Promise<void> | undefined;
let restarted: LocalServer | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tradeflow-faults-redis-"));
  stack = await startLocalStack({
    redisDataDir: dataDir,
    stage: "faults",
    timing: { taskRetryMs: TASK_RETRY_MS, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  });
  c = pipelineClients(stack);
}, 180_000);

afterAll(async () => {
  await restart?.catch(() => undefined);
  c?.destroy();
  await stack?.stop();
  await restarted?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

it("a Redis kill and restart mid-stream loses and duplicates nothing", async () => {
  const original = stack.redis;
  if (!original) throw new Error("the stack started no redis-server of its own");
  const { entries, orders, cancels } = faultStream(stack.resources.bus, {
    seed: SEED,
    events: EVENTS,
    prefix: `F${SEED}`,
  });
  expect(cancels).toBeGreaterThan(20);

  // Kill Redis after KILL_AFTER events and start it again on the same port and data directory once the outage has
  // lasted OUTAGE_MIN_MS and Match retries are under way (at most OUTAGE_MAX_MS).
  const outage = { killedAt: 0, restartedAt: 0, retryingAtRestart: 0 };
  const { eventIds, sentAt } = await streamEvents(stack, c, entries, {
    inFlight: IN_FLIGHT,
    afterBatch: async (sent) => {
      if (restart || sent < KILL_AFTER) return;
      const exited = new Promise((resolve) => original.process.once("exit", resolve));
      original.process.kill("SIGKILL");
      await exited;
      outage.killedAt = Date.now();
      restart = (async () => {
        const retrying = () =>
          stack.machine
            .list("RUNNING")
            .filter((e) => e.trace.some((s) => s.state === "Match" && (s.failed || s.retries.length > 0))).length;
        await sleep(OUTAGE_MIN_MS);
        while (retrying() < 3 && Date.now() - outage.killedAt < OUTAGE_MAX_MS) await sleep(50);
        outage.retryingAtRestart = retrying();
        restarted = await startRedis(original.port, { dataDir });
        outage.restartedAt = Date.now();
      })();
    },
  });
  await restart;
  await stack.idle();
  expect(outage.restartedAt - outage.killedAt).toBeGreaterThanOrEqual(OUTAGE_MIN_MS);
  expect(eventIds).toHaveLength(EVENTS);

  // Every event ran exactly once, and succeeded; some had to retry Match while Redis was down.
  const executions = stack.machine.list();
  const statuses = new Map<string, string>();
  for (const e of executions) statuses.set(envelopeOf(e).id, e.status);
  expect(executions).toHaveLength(EVENTS);
  expect([...statuses.keys()].sort()).toEqual([...eventIds].sort());
  expect(executions.filter((e) => e.status !== "SUCCEEDED").map((e) => [e.status, e.error, e.trace])).toEqual([]);
  const retried = executions.filter((e) => matchRetries(e).length > 0);
  // (The outage's timing is in the message if this fails.)
  expect({ retried: retried.length > 0, outage }).toEqual({ retried: true, outage });
  for (const e of retried) {
    expect(new Set(matchRetries(e))).toEqual(new Set(["MatcherUnavailableError"]));
    const match = e.trace.find((s) => s.state === "Match");
    expect(match?.attempts).toBe((match?.retries.length ?? 0) + 1);
  }
  expect(stack.bus.metrics).toMatchObject({ MatchedEvents: EVENTS, FailedInvocations: 0, InvocationsSentToDlq: 0 });

  // Each event ended in one place, none in a queue, and per order and per symbol the compliance table and the engine
  // (its books back from the append-only file) agree. The only rejections are the engine's refusals of cancels (of an
  // order already done, or not there yet: cancels race their orders); every cancel either cancelled or was refused.
  const items = await expectAllRecorded("Redis killed and restarted", stack, c, eventIds, orders);
  const entity = (name: string) => items.filter((i) => i.entity === name);
  expect(entity("EVENT")).toEqual([]);
  expect(entity("TRADE")).toEqual([]);
  const rejections = entity("REJECTION");
  expect(
    rejections.filter(
      (r) =>
        r.stage !== "ENGINE" ||
        r.detailType !== "Order Cancel Requested" ||
        !["UNKNOWN_ORDER", "ORDER_NOT_OPEN"].includes(String((r.reasons as string[])[0])),
    ),
  ).toEqual([]);
  const versions = entity("ORDER_VERSION");
  expect(versions.filter((v) => v.cause === "CANCEL").length + rejections.length).toBe(cancels);

  // The enricher degraded while Redis was down (its top of book "unavailable") and reconnected on its own: no
  // order put after the restart (and a reconnect delay) met a connection error; a slow answer is not one.
  const submits = new Map(versions.filter((v) => v.cause === "SUBMIT").map((v) => [String(v.orderId), v]));
  const defaulted = (o: SentOrder) =>
    ((submits.get(o.orderId)?.enrichment as { defaulted?: string[] } | undefined)?.defaulted ?? []).join("; ");
  expect(orders.filter((o) => /topOfBook: redis unavailable/.test(defaulted(o))).length).toBeGreaterThan(0);
  const later = orders.filter((o) => (sentAt[o.entry] ?? 0) > outage.restartedAt + 2000);
  expect(later.length).toBeGreaterThan(50);
  expect(later.filter((o) => /redis unavailable/.test(defaulted(o))).map((o) => [o.orderId, defaulted(o)])).toEqual([]);

  // The trades Match returned (a replayed result repeats the original trades exactly) are the recorded ones.
  const engineTrades = new Map<string, Trade>();
  for (const e of executions) {
    const validated = (outputOf(e).processed as { validated?: { match?: { trades?: Trade[] } } }).validated;
    for (const t of validated?.match?.trades ?? []) {
      const seen = engineTrades.get(t.tradeId);
      if (seen) expect(t).toEqual(seen);
      engineTrades.set(t.tradeId, t);
    }
  }
  expect(engineTrades.size).toBeGreaterThan(30);
  const recordedTradeIds = new Set(versions.flatMap((v) => (v.trades as Trade[]).map((t) => t.tradeId)));
  expect([...recordedTradeIds].sort()).toEqual([...engineTrades.keys()].sort());
}, 240_000);
