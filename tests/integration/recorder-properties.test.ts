// Whatever order the executions of a stream are recorded in, however often, however concurrently, the compliance
// table ends up holding exactly what the engine says: every order's state, every version of it, every trade.
// Real validator, real engine on redis-server, real recorder on DynamoDB Local and moto.
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { type OrderState, type Trade, ValidationRejected } from "@tradeflow/common/contracts";
import type { MatchingEngine } from "@tradeflow/common/orderbook";
import { validateEvent } from "@tradeflow/common/validation";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { connect, engineOn, instruments } from "../support/book-fixture";
import { REDIS_DB } from "../support/redis-db";
import { clients, createRecordingStack, type RecordingStack, recorderDeps } from "./recording-stack";

let stack: RecordingStack;
let redis: Redis;
let engine: MatchingEngine;
let recordExecution: typeof import("@tradeflow/common/recorder").recordExecution;

beforeAll(async () => {
  stack = await createRecordingStack();
  redis = connect(REDIS_DB.recorderProperties);
  await redis.flushdb();
  engine = engineOn(redis);
  ({ recordExecution } = await import("@tradeflow/common/recorder"));
});
afterAll(() => redis.quit());

type Step =
  | { kind: "limit"; client: number; side: "BUY" | "SELL"; price: number; quantity: number }
  | { kind: "market"; client: number; side: "BUY" | "SELL"; quantity: number }
  | { kind: "cancel"; client: number; target: number };

const side = fc.constantFrom("BUY" as const, "SELL" as const);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("limit" as const),
      client: fc.nat(2),
      side,
      price: fc.integer({ min: 98, max: 102 }),
      quantity: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("market" as const),
      client: fc.nat(2),
      side,
      quantity: fc.integer({ min: 1, max: 8 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("cancel" as const), client: fc.nat(2), target: fc.nat(40) }) },
);

let run = 0;

/** The Record (or RecordRejection) input of each step, as the workflow would hand it over. */
async function statesOf(steps: readonly Step[], prefix: string) {
  const states: Record<string, unknown>[] = [];
  const results: { orders: OrderState[]; trades: Trade[] }[] = [];
  const orderIds: string[] = [];
  for (const [i, s] of steps.entries()) {
    const clientId = `c${s.client}`;
    const detail =
      s.kind === "cancel"
        ? { orderId: orderIds[s.target % Math.max(orderIds.length, 1)] ?? `${prefix}-none`, clientId, symbol: "AAPL" }
        : {
            orderId: `${prefix}-o${i}`,
            clientId,
            symbol: "AAPL",
            side: s.side,
            type: s.kind === "limit" ? "LIMIT" : "MARKET",
            quantity: String(s.quantity),
            ...(s.kind === "limit" ? { price: String(s.price) } : {}),
          };
    if (s.kind !== "cancel") orderIds.push(detail.orderId);
    const event = {
      version: "0",
      id: `${prefix}-e${i}`,
      "detail-type": s.kind === "cancel" ? "Order Cancel Requested" : "Order Submitted",
      source: "tradeflow.orders",
      account: "123456789012",
      time: new Date(Date.UTC(2025, 5, 2, 14, 0, i)).toISOString(),
      region: "us-east-1",
      resources: [],
      detail,
    };
    const enrichment = { session: "CONTINUOUS", defaulted: [] };
    try {
      const validated = await validateEvent(event, { instruments: async () => instruments });
      const match = "command" in validated ? await engine.execute(validated.command) : undefined;
      if (match && !match.replayed)
        results.push({ orders: [...(match.order ? [match.order] : []), ...match.affected], trades: [...match.trades] });
      states.push(
        JSON.parse(JSON.stringify({ ...event, processed: { validated: { ...validated, match }, enrichment } })),
      );
    } catch (err) {
      if (!(err instanceof ValidationRejected)) throw err;
      const Cause = JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: [] });
      states.push({ ...event, rejection: { Error: "ValidationRejected", Cause } });
    }
  }
  return { states, results, orderIds };
}

async function orderItems(orderId: string) {
  const { Items = [] } = await clients().doc.send(
    new QueryCommand({
      TableName: stack.complianceTable,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": `ORDER#${orderId}` },
      ConsistentRead: true,
    }),
  );
  return Items;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const pick = (item: Record<string, unknown>, like: OrderState) =>
  Object.fromEntries(Object.keys(like).map((k) => [k, item[k]]));

test("shuffled, duplicated, concurrent delivery leaves exactly the engine's states, versions and trades", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 30 }), fc.nat(), async (steps, seed) => {
      const prefix = `p${++run}`;
      const { states, results, orderIds } = await statesOf(steps, prefix);
      // Every third execution is delivered twice; eight at a time, in any order.
      const deliveries = shuffled([...states, ...states.filter((_, i) => i % 3 === 0)], seed);
      for (let i = 0; i < deliveries.length; i += 8) {
        await Promise.all(deliveries.slice(i, i + 8).map((s) => recordExecution(s, recorderDeps(stack))));
      }

      const versionsSeen = new Map<string, Map<number, OrderState>>();
      for (const r of results) {
        for (const o of r.orders)
          versionsSeen.set(o.orderId, (versionsSeen.get(o.orderId) ?? new Map()).set(o.version, o));
      }
      const trades = results.flatMap((r) => r.trades);
      const recordedTrades: unknown[] = [];
      for (const orderId of orderIds) {
        const items = await orderItems(orderId);
        const engineState = await engine.getOrder("AAPL", orderId);
        const meta = items.find((i) => i.sk === "META");
        const versions = items.filter((i) => String(i.sk).startsWith("V#"));
        if (!engineState) {
          expect(items).toEqual([]);
          continue;
        }
        expect(meta && pick(meta, engineState)).toEqual(engineState);
        const expected = [...(versionsSeen.get(orderId)?.values() ?? [])].sort((a, b) => a.version - b.version);
        expect(versions.map((v) => pick(v, engineState))).toEqual(expected);
        for (const v of versions) if (v.cause !== "FILL") recordedTrades.push(...(v.trades as unknown[]));
      }
      expect(recordedTrades).toEqual(expect.arrayContaining(trades));
      expect(recordedTrades).toHaveLength(trades.length);
    }),
    { numRuns: 12 },
  );
});
