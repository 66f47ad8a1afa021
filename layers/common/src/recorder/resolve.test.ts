import fc from "fast-check";
import {
  type Fact,
  type Item,
  type OrderChange,
  type RecordPlan,
  receiptFact,
  type Subject,
  TERMINAL_VERSION,
} from "./plan";
import { difference, itemId, type Resolution, resolveWrites } from "./resolve";

const subject = (eventId: string): Subject => ({
  eventId,
  source: "tradeflow.orders",
  detailType: "Order Submitted",
  eventTime: "2025-06-02T14:30:00.000Z",
  payloadHash: `hash-of-${eventId}`,
  detail: "{}",
  detailTruncated: false,
});

const plan = (eventId: string, orders: OrderChange[], facts: Fact[] = []): RecordPlan => ({
  subject: subject(eventId),
  facts,
  orders,
  events: [],
  ticks: [],
  counts: { orders: 0, trades: 0, rejections: 0 },
});

/** Applies a resolution the way DynamoDB would, checking each write's condition. */
function apply(table: Map<string, Item>, r: Resolution): void {
  for (const f of r.puts) {
    expect(table.has(itemId(f.key))).toBe(false);
    table.set(itemId(f.key), f.item);
  }
  for (const u of r.updates) {
    const current = table.get(itemId(u.key));
    expect(current?.version).toBe(u.expectedVersion);
    table.set(itemId(u.key), { ...current, ...u.key, ...u.set });
  }
}

// One order of 10 lots: submitted resting, filled by later trades, perhaps cancelled.
const submission = {
  orderHash: "h-O1",
  quantity: "10",
  attributes: { orderHash: "h-O1", quantity: "10", type: "LIMIT" },
};
const base = { orderId: "O1", clientId: "alice", symbol: "AAPL", side: "BUY" as const };
const submitted: OrderChange = {
  ...base,
  version: 0,
  status: "NEW",
  remainingQuantity: "10",
  filledQuantity: "0",
  cancelledQuantity: "0",
  quantity: "10",
  submission,
};
const filled = (sequence: number, remaining: string): OrderChange => ({
  ...base,
  version: sequence,
  status: remaining === "0" ? "FILLED" : "PARTIALLY_FILLED",
  remainingQuantity: remaining,
  tradeId: `AAPL-${sequence}`,
});
const cancelled = (filledQuantity: string): OrderChange => ({
  ...base,
  version: TERMINAL_VERSION,
  status: "CANCELLED",
  remainingQuantity: "0",
  filledQuantity,
  cancelledQuantity: difference("10", filledQuantity)!,
  quantity: "10",
});

/** A lifecycle: submit, fills of 1-3 lots at rising sequences, then a cancel if anything is left. */
const lifecycle = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 5 }).map((sizes) => {
  const changes = [submitted];
  let left = 10;
  sizes.forEach((size, i) => {
    if (left === 0) return;
    left -= Math.min(size, left);
    changes.push(filled(10 + i, String(left)));
  });
  if (left > 0) changes.push(cancelled(String(10 - left)));
  return changes;
});

describe("resolveWrites: an order's META", () => {
  test("whatever order the events arrive in, with replays, META ends at the newest version and never goes back", () => {
    fc.assert(
      fc.property(
        lifecycle.chain((changes) =>
          fc.tuple(
            fc.constant(changes),
            fc.shuffledSubarray(changes, { minLength: changes.length }),
            fc.array(fc.nat(), { maxLength: 4 }),
          ),
        ),
        ([changes, delivered, replays]) => {
          const table = new Map<string, Item>();
          let lastVersion = -1;
          const deliveries = [...delivered, ...replays.map((r) => delivered[r % delivered.length]!)];
          for (const [i, change] of deliveries.entries()) {
            apply(table, resolveWrites(plan(`e${i}`, [change]), table));
            const version = table.get(itemId({ pk: "ORDER#O1", sk: "META" }))?.version as number;
            expect(version).toBeGreaterThanOrEqual(lastVersion);
            lastVersion = version;
          }
          const newest = changes[changes.length - 1]!;
          expect(table.get(itemId({ pk: "ORDER#O1", sk: "META" }))).toMatchObject({
            version: newest.version,
            status: newest.status,
            remainingQuantity: newest.remainingQuantity,
            quantity: "10",
            orderHash: "h-O1",
            filledQuantity: difference("10", newest.remainingQuantity, newest.cancelledQuantity ?? "0"),
          });
        },
      ),
    );
  });

  test("a replay of the newest change writes nothing", () => {
    const table = new Map<string, Item>();
    apply(table, resolveWrites(plan("e1", [filled(12, "4")]), table));
    const again = resolveWrites(plan("e1", [filled(12, "4")]), table);
    expect(again).toEqual({ puts: [], updates: [], duplicates: 0, conflicts: [] });
  });

  test("the same order id for another client or other content is a conflict", () => {
    const table = new Map<string, Item>();
    apply(table, resolveWrites(plan("e1", [submitted]), table));
    expect(resolveWrites(plan("e2", [{ ...filled(3, "5"), clientId: "mallory" }]), table).conflicts).toEqual([
      { pk: "ORDER#O1", sk: "META" },
    ]);
    const other = { ...submitted, submission: { ...submission, orderHash: "h-other" } };
    const r = resolveWrites(plan("e3", [other]), table);
    expect(r.conflicts).toEqual([{ pk: "ORDER#O1", sk: "META" }]);
    expect(r.puts).toEqual([]);
    expect(r.updates).toEqual([]);
  });
});

describe("resolveWrites: facts and the receipt", () => {
  const fact = (sk: string, hash: string): Fact => ({
    key: { pk: "TRADE#T1", sk },
    contentHash: hash,
    item: { pk: "TRADE#T1", sk, contentHash: hash },
  });

  test("new facts are written with the receipt; known ones count as duplicates and write nothing", () => {
    const table = new Map<string, Item>();
    const first = resolveWrites(plan("e1", [], [fact("META", "a")]), table);
    expect(first.puts.map((f) => f.key.pk)).toEqual(["EVENT#e1", "TRADE#T1"]);
    apply(table, first);
    expect(resolveWrites(plan("e1", [], [fact("META", "a")]), table)).toEqual({
      puts: [],
      updates: [],
      duplicates: 1,
      conflicts: [],
    });
  });

  test("a duplicate under a new event id writes no receipt either", () => {
    const table = new Map<string, Item>();
    apply(table, resolveWrites(plan("e1", [], [fact("META", "a")]), table));
    expect(resolveWrites(plan("e2", [], [fact("META", "a")]), table).puts).toEqual([]);
  });

  test("a key reused for other content, or an event id reused for another payload, is a conflict and writes nothing", () => {
    const table = new Map<string, Item>();
    apply(table, resolveWrites(plan("e1", [], [fact("META", "a")]), table));
    expect(resolveWrites(plan("e2", [], [fact("META", "b")]), table).conflicts).toEqual([
      { pk: "TRADE#T1", sk: "META" },
    ]);

    const reused = {
      ...plan("e1", [], [fact("OTHER", "c")]),
      subject: { ...subject("e1"), payloadHash: "another payload" },
    };
    const r = resolveWrites(reused, table);
    expect(r.conflicts).toEqual([receiptFact(subject("e1")).key]);
    expect(r.puts).toEqual([]);
  });
});

describe("difference", () => {
  test("subtracts decimals exactly and refuses negatives", () => {
    expect(difference("10", "2.5", "0.25")).toBe("7.25");
    expect(difference("0.3", "0.1", "0.2")).toBe("0");
    expect(difference("1", "1.0001")).toBeUndefined();
    expect(difference("1", "1e3")).toBeUndefined();
  });
});
