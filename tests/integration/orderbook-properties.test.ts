// Random command streams through the engine (real Redis) and through the reference model.
// fast-check prints the seed and the shrunk stream of any failure, so every failure replays exactly.
import { CommandResultSchema } from "@tradeflow/common/contracts";
import { fromUnits } from "@tradeflow/common/decimal";
import {
  type Instrument,
  instrumentRegistry,
  SAMPLE_INSTRUMENTS,
  STP_MODES,
  type StpMode,
} from "@tradeflow/common/instruments";
import {
  type CommandResult,
  type EngineCommandInput,
  MatchingEngine,
  type OrderState,
  type Trade,
} from "@tradeflow/common/orderbook";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { checkInvariants, connect } from "../support/book-fixture";
import { REDIS_DB } from "../support/redis-db";
import { MAX_CANCEL_ALL, type ModelOutcome, ReferenceBook } from "../support/reference-book";

const SYMBOLS = ["AAPL", "BTC-USD", "ETH-USD"] as const;
type Sym = (typeof SYMBOLS)[number];
const MID_TICKS: Record<Sym, bigint> = { AAPL: 10_000n, "BTC-USD": 6_500_000n, "ETH-USD": 320_000n };
// Two clients: an order meets its own client's resting orders about half the time.
const CLIENTS = ["alice", "bob"];
// A market order of about 30 lots at the mid reaches the maximum notional, so streams cross that bound.
const MAX_NOTIONAL: Record<Sym, string> = { AAPL: "3000", "BTC-USD": "195", "ETH-USD": "96" };
// Each symbol defaults to another mode, so an order without one exercises the instrument's.
const DEFAULT_STP: Record<Sym, StpMode> = {
  AAPL: "DECREMENT_AND_CANCEL",
  "BTC-USD": "CANCEL_NEWEST",
  "ETH-USD": "CANCEL_OLDEST",
};
const INSTRUMENTS: Instrument[] = SAMPLE_INSTRUMENTS.map((i) => ({
  ...i,
  maxNotional: MAX_NOTIONAL[i.symbol as Sym],
  selfTradePrevention: DEFAULT_STP[i.symbol as Sym],
}));
const instruments = instrumentRegistry(INSTRUMENTS);
const T0 = 1_700_000_000_000;

type Command = EngineCommandInput;
type Submit = Extract<Command, { type: "LIMIT" | "MARKET" }>;
type Price = { band: -1 | 0 | 1; offset: number };
/** A new price: `toward` ticks from the submitted one toward the other side (through the spread when large). */
type Reprice = { band: -1 | 0 | 1; toward: number };
type SubmitOp = {
  kind: "limit" | "market";
  symbol: number;
  buy: boolean;
  price: Price;
  lots: number;
  tif: 0 | 1 | 2;
  postOnly: boolean;
  client: number;
  /** An index into STP_MODES; STP_MODES.length: none given, the instrument's default. */
  stp: number;
};
type Op =
  | SubmitOp
  | { kind: "cancel"; target: number; client: number }
  | { kind: "amend"; target: number; foreign: boolean; change: 0 | 1 | 2; price: Reprice | null; delta: number }
  | { kind: "cancelAll"; symbol: number | null; client: number }
  | { kind: "replay"; target: number; mutate: 0 | 1 | 2 | 3 | 4 };

// band ±1: prices near the edges of the price band, on both sides of them.
const band = fc.constantFrom<-1 | 0 | 1>(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 1);
/** For a limit order: `offset` ticks on its own side of the mid, mostly passive so books build up. */
const price: fc.Arbitrary<Price> = fc.record({ band, offset: fc.integer({ min: -4, max: 12 }) });
/** Counts back from the latest order: mostly a recent one (likely live), sometimes any, or an id never used. */
const target = fc.oneof({ weight: 6, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.nat() });
// Most orders go to one symbol, so its book gets deep; the others still see claims and mass cancels across symbols.
const symbol = fc.constantFrom(0, 0, 0, 1, 2);
const client = fc.nat(CLIENTS.length - 1);
const submitOp = (kind: "limit" | "market", maxLots: number): fc.Arbitrary<SubmitOp> =>
  fc.record({
    kind: fc.constant(kind),
    symbol,
    buy: fc.boolean(),
    price,
    lots: fc.integer({ min: 1, max: maxLots }),
    tif: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 0, 1, 2),
    postOnly: fc.constantFrom(false, false, false, false, true),
    client,
    stp: fc.nat(STP_MODES.length),
  });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: submitOp("limit", 30) },
  { weight: 4, arbitrary: submitOp("market", 40) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("cancel" as const), target, client }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("amend" as const),
      target,
      foreign: fc.constantFrom(false, false, false, false, false, true),
      /** 0: price only, 1: quantity only, 2: both. */
      change: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      /** null: the price the order was submitted at. */
      price: fc.option(fc.record({ band, toward: fc.integer({ min: -4, max: 16 }) }), { freq: 4 }),
      /** The new total quantity, in lots from the submitted one (at least 1 lot). */
      delta: fc.integer({ min: -30, max: 15 }),
    }),
  },
  // Rare: a mass cancel empties half the book.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("cancelAll" as const),
      symbol: fc.option(fc.nat(SYMBOLS.length - 1), { freq: 3 }),
      client,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("replay" as const),
      target: fc.nat(),
      mutate: fc.constantFrom<0 | 1 | 2 | 3 | 4>(0, 0, 1, 2, 3, 4),
    }),
  },
);

const symbolAt = (n: number): Sym => SYMBOLS[n % SYMBOLS.length]!;
const lotsOf = (symbol: string, lots: number) => fromUnits(BigInt(lots), instruments.get(symbol)!.lotSize);
const priceOf = (symbol: Sym, p: Price) => {
  // The band's half-width at the mid, in ticks.
  const band = (MID_TICKS[symbol] * BigInt(instruments.get(symbol)!.priceBandBps)) / 10_000n;
  return fromUnits(MID_TICKS[symbol] + BigInt(p.band) * band + BigInt(p.offset), instruments.get(symbol)!.tickSize);
};
/** The price offset from the mid: a buy's drawn offset counts down, a sell's up. */
const limitPrice = (o: SubmitOp): Price => ({ band: o.price.band, offset: o.buy ? -o.price.offset : o.price.offset });
const otherClient = (clientId: string) => CLIENTS[(CLIENTS.indexOf(clientId) + 1) % CLIENTS.length]!;

function submitCommand(o: SubmitOp, orderId: string, symbol = symbolAt(o.symbol)): Submit {
  const base = {
    orderId,
    clientId: CLIENTS[o.client]!,
    symbol,
    side: o.buy ? "BUY" : "SELL",
    quantity: lotsOf(symbol, o.lots),
    ...(o.stp < STP_MODES.length ? { selfTradePrevention: STP_MODES[o.stp] } : {}),
  } as const;
  if (o.kind === "market") return { type: "MARKET", ...base };
  const timeInForce = (["GTC", "IOC", "FOK"] as const)[o.tif];
  return { type: "LIMIT", ...base, price: priceOf(symbol, limitPrice(o)), timeInForce, postOnly: o.postOnly };
}

/**
 * The command again under its id, changed: 1 another client; 2 on the next symbol; 3 other content of the same
 * kind; 4 for a submit its self-trade prevention mode spelled out (the same content when it named none, else
 * another mode), for the others another kind of command.
 */
function mutated(c: Command, mutate: 1 | 2 | 3 | 4, drawn: ReadonlyMap<string, SubmitOp>, i: number): Command {
  if (mutate === 1) return { ...c, clientId: otherClient(c.clientId) };
  // A mass cancel over every symbol moves to the first.
  const next = symbolAt(SYMBOLS.indexOf(c.symbol as Sym) + 1);
  if (c.type === "LIMIT" || c.type === "MARKET") {
    if (mutate === 2) return submitCommand(drawn.get(c.orderId)!, c.orderId, next);
    if (mutate === 3) return { ...c, side: c.side === "BUY" ? "SELL" : "BUY" };
    const resolved = c.selfTradePrevention ?? DEFAULT_STP[c.symbol as Sym];
    const other = STP_MODES[(STP_MODES.indexOf(resolved) + 1) % STP_MODES.length];
    return { ...c, selfTradePrevention: c.selfTradePrevention ? other : resolved };
  }
  // An amend's sizes restated on the next symbol's grid.
  if (mutate === 2 && c.type === "AMEND") return { ...c, symbol: next, price: undefined, quantity: lotsOf(next, 1) };
  if (mutate === 2) return { ...c, symbol: next };
  if (mutate === 3) {
    if (c.type === "CANCEL") return { ...c, orderId: `o${i % 5}` };
    if (c.type === "AMEND") return { ...c, price: undefined, quantity: lotsOf(c.symbol, (i % 7) + 1) };
    return c.symbol === undefined ? { ...c, symbol: symbolAt(i) } : { ...c, symbol: undefined };
  }
  const { commandId, clientId } = c;
  const symbol = c.symbol ?? symbolAt(i);
  const orderId = "orderId" in c ? c.orderId : `o${i % 5}`;
  const kinds = ["CANCEL", "AMEND", "CANCEL_ALL"] as const;
  const kind = kinds[(kinds.indexOf(c.type) + 1 + (i % 2)) % kinds.length];
  if (kind === "CANCEL") return { type: kind, commandId, orderId, clientId, symbol };
  if (kind === "AMEND") return { type: kind, commandId, orderId, clientId, symbol, quantity: lotsOf(symbol, 1) };
  return { type: "CANCEL_ALL", commandId, clientId };
}

/**
 * Turns drawn ops into engine commands: unique order and command ids; cancels and amends aimed at earlier
 * orders (or at an id never used); replays of earlier commands, as they were or with the same id reused.
 */
function materialize(ops: readonly Op[]): Command[] {
  const out: Command[] = [];
  const submits: Submit[] = [];
  const drawn = new Map<string, SubmitOp>();
  const latest = (n: number, i: number): Pick<Submit, "orderId" | "symbol" | "clientId" | "side"> =>
    submits[submits.length - 1 - (n % (submits.length + 1))] ?? {
      orderId: `u${i}`,
      symbol: symbolAt(n),
      clientId: CLIENTS[0]!,
      side: "BUY",
    };
  ops.forEach((o, i) => {
    const commandId = `c${i}`;
    if (o.kind === "limit" || o.kind === "market") {
      const cmd = submitCommand(o, `o${i}`);
      drawn.set(cmd.orderId, o);
      submits.push(cmd);
      out.push(cmd);
    } else if (o.kind === "cancel") {
      const { orderId, symbol } = latest(o.target, i);
      out.push({ type: "CANCEL", commandId, orderId, clientId: CLIENTS[o.client]!, symbol });
    } else if (o.kind === "amend") {
      const t = latest(o.target, i);
      const symbol = t.symbol as Sym;
      const original = drawn.get(t.orderId);
      const submitted: Price = original?.kind === "limit" ? limitPrice(original) : { band: 0, offset: 0 };
      const toward = t.side === "BUY" ? 1 : -1;
      const reprice = o.price && { band: o.price.band, offset: submitted.offset + toward * o.price.toward };
      out.push({
        type: "AMEND",
        commandId,
        orderId: t.orderId,
        clientId: o.foreign ? otherClient(t.clientId) : t.clientId,
        symbol,
        ...(o.change !== 1 ? { price: priceOf(symbol, reprice ?? submitted) } : {}),
        ...(o.change !== 0 ? { quantity: lotsOf(symbol, Math.max(1, (original?.lots ?? 10) + o.delta)) } : {}),
      });
    } else if (o.kind === "cancelAll") {
      const scope = o.symbol === null ? {} : { symbol: symbolAt(o.symbol) };
      out.push({ type: "CANCEL_ALL", commandId, clientId: CLIENTS[o.client]!, ...scope });
    } else if (o.kind === "replay" && out.length > 0) {
      const again = out[o.target % out.length]!;
      out.push(o.mutate === 0 ? again : mutated(again, o.mutate, drawn, i));
    }
  });
  return out;
}

// size "max": lengths spread evenly up to 80 (fast-check's default size keeps arrays near 10 commands, too few
// for books to build up).
const stream = fc.array(op, { minLength: 1, maxLength: 80, size: "max" }).map(materialize);
const stamped = (commands: readonly Command[]) => commands.map((c, i) => ({ ...c, timestamp: T0 + i }));

let redis: Redis;
let engine: MatchingEngine;
beforeAll(() => {
  redis = connect(REDIS_DB.orderbookProperties);
  engine = new MatchingEngine({ redis, instruments });
});
afterAll(() => redis.quit());

/** What the model predicts: all of a result but its message's wording. */
function predicted(result: CommandResult): ModelOutcome {
  const { message, ...rest } = result;
  if (result.reason === null) expect(message).toBeNull();
  return rest;
}

const symbolsOf = (c: Command): readonly string[] => (c.symbol === undefined ? SYMBOLS : [c.symbol]);

/** Versions of the commands a symbol executed (not replays, not refusals before its book) grow strictly. */
function expectGrowingVersions(results: readonly CommandResult[]): void {
  for (const symbol of SYMBOLS) {
    const versions = results.filter((r) => r.symbol === symbol && !r.replayed && r.version !== null);
    versions.forEach((r, i) => {
      if (i > 0) expect(r.version).toBeGreaterThan(versions[i - 1]!.version!);
    });
  }
}

async function expectBooksAsModel(model: ReferenceBook): Promise<void> {
  for (const symbol of SYMBOLS) {
    const book = await engine.depth(symbol, 1000);
    const strip = (levels: typeof book.bids) =>
      levels.map(({ price, quantity, orders }) => ({ price, quantity, orders }));
    expect({ symbol, bids: strip(book.bids), asks: strip(book.asks) }).toEqual({ symbol, ...model.depth(symbol) });
  }
}

test("the engine agrees with the reference model on every result, order state, trade and final book", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      await redis.flushdb();
      const model = new ReferenceBook(INSTRUMENTS);
      const results: CommandResult[] = [];
      for (const command of stamped(commands)) {
        const expected = model.execute(command);
        const actual = await engine.execute(command);
        results.push(actual);
        expect(CommandResultSchema.parse(actual)).toEqual(actual);
        expect({ command, ...predicted(actual) }).toEqual({ command, ...expected });
      }
      expectGrowingVersions(results);
      await expectBooksAsModel(model);
    }),
    { numRuns: 800 },
  );
});

/**
 * A result's states are the engine's own: each equals what getOrder reads right after and carries its symbol's
 * version of the command. `affected` lists each order once: the makers, the resting orders self-trade
 * prevention cancelled from, and for a mass cancel the client's cancelled orders.
 */
async function checkReportedStates(command: Command, result: CommandResult): Promise<void> {
  const reported: OrderState[] = [...(result.order ? [result.order] : []), ...result.affected];
  for (const state of reported) {
    expect(await engine.getOrder(state.symbol, state.orderId)).toEqual(state);
    if (result.version !== null) expect(state.version).toBe(result.version);
  }
  const affected = result.affected.map((o) => o.orderId);
  expect(new Set(affected).size).toBe(affected.length);
  if (command.type === "CANCEL_ALL") {
    for (const o of result.affected) expect([o.clientId, o.status]).toEqual([command.clientId, "CANCELLED"]);
  } else {
    const resting = result.selfTradePreventions.filter((p) => p.restingCancelledQuantity !== "0");
    expect(new Set(affected)).toEqual(
      new Set([...result.trades.map((t) => t.makerOrderId), ...resting.map((p) => p.restingOrderId)]),
    );
  }
  for (const t of result.trades) expect(t.timestamp).toBe(result.trades[0]!.timestamp);
  if (command.type === "LIMIT" || command.type === "MARKET")
    for (const t of result.trades) expect(t.timestamp).toBe(result.order?.submittedAt);
}

test("invariants hold after every command", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      await redis.flushdb();
      const trades: Trade[] = [];
      const ids = new Set<string>();
      const results: CommandResult[] = [];
      for (const command of commands) {
        const result = await engine.execute(command);
        results.push(result);
        if (!result.replayed) {
          trades.push(...result.trades);
          await checkReportedStates(command, result);
        }
        if ("orderId" in command) ids.add(command.orderId);
        for (const symbol of symbolsOf(command)) await checkInvariants(engine, symbol, ids, trades);
      }
      expectGrowingVersions(results);
    }),
    { numRuns: 100 },
  );
});

/** Every key of the engine with its whole content. */
async function snapshot(r: Redis): Promise<Record<string, string>> {
  const keys = (await r.keys("tf:*")).sort();
  const out: Record<string, string> = {};
  for (const key of keys) {
    const type = await r.type(key);
    out[key] = JSON.stringify(
      type === "hash"
        ? Object.entries(await r.hgetall(key)).sort(([a], [b]) => a.localeCompare(b))
        : type === "zset"
          ? await r.zrange(key, "0", "-1", "WITHSCORES")
          : type === "string"
            ? await r.get(key)
            : type,
    );
  }
  return out;
}

test("replaying a whole stream returns the original results byte for byte and leaves every key identical", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      await redis.flushdb();
      const first = [];
      for (const c of commands) first.push(await engine.execute(c));
      const before = await snapshot(redis);
      for (const [i, c] of commands.entries()) {
        const again = await engine.execute(c);
        const original = first[i]!;
        // Only what reached a book was kept: a refusal before it is decided again, the same way.
        expect(again.replayed).toBe(original.reason === null || original.version !== null);
        expect(JSON.stringify({ ...again, replayed: original.replayed })).toBe(JSON.stringify(original));
      }
      expect(await snapshot(redis)).toEqual(before);
    }),
    { numRuns: 100 },
  );
});

test("a journal with timestamps rebuilds an identical book and identical trades on a fresh Redis", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      const runOnce = async () => {
        await redis.flushdb();
        const results = [];
        for (const c of stamped(commands)) results.push(await engine.execute(c));
        const books = await Promise.all(SYMBOLS.map((s) => engine.depth(s, 1000)));
        return JSON.stringify({ results, books });
      };
      expect(await runOnce()).toBe(await runOnce());
    }),
    { numRuns: 60 },
  );
});

test("a mass cancel takes at most MAX_CANCEL_ALL orders, by order id, and counts the ones it leaves", async () => {
  await redis.flushdb();
  const model = new ReferenceBook(INSTRUMENTS);
  let n = 0;
  const run = async (command: Command) => {
    const stampedCommand = { ...command, timestamp: T0 + n++ };
    const expected = model.execute(stampedCommand);
    const actual = await engine.execute(stampedCommand);
    expect(CommandResultSchema.parse(actual)).toEqual(actual);
    expect(predicted(actual)).toEqual(expected);
    return actual;
  };
  // alice rests 130 bids on AAPL, 60 on BTC-USD and 50 on ETH-USD; bob rests beside her and is never touched.
  const placed: Record<Sym, number> = { AAPL: 130, "BTC-USD": 60, "ETH-USD": 50 };
  for (const symbol of SYMBOLS) {
    for (let i = 0; i < placed[symbol]; i++) {
      for (const clientId of i % 10 === 0 ? ["alice", "bob"] : ["alice"]) {
        await run({
          type: "LIMIT",
          orderId: `${symbol}.${clientId}.${i}`,
          clientId,
          symbol,
          side: "BUY",
          price: priceOf(symbol, { band: 0, offset: -(i % 7) - 1 }),
          quantity: lotsOf(symbol, (i % 5) + 1),
        });
      }
    }
  }
  // Lexicographic: AAPL.alice.0, AAPL.alice.1, AAPL.alice.10, AAPL.alice.100, ...
  const alices = (symbol: Sym) => Array.from({ length: placed[symbol] }, (_, i) => `${symbol}.alice.${i}`).sort();
  const cancelled = (r: CommandResult) => r.affected.map((o) => o.orderId);
  const cancelAll = (commandId: string, symbol?: Sym, clientId = "alice") =>
    run({ type: "CANCEL_ALL", commandId, clientId, ...(symbol ? { symbol } : {}) });

  // Registry order: BTC-USD, then ETH-USD until the budget runs out; AAPL still runs, with none left.
  const everywhere = await cancelAll("all-1");
  expect(cancelled(everywhere)).toEqual([...alices("BTC-USD"), ...alices("ETH-USD").slice(0, MAX_CANCEL_ALL - 60)]);
  expect(everywhere.openOrdersLeft).toBe(10 + 130);
  const aapl = await cancelAll("aapl-1", "AAPL");
  expect(cancelled(aapl)).toEqual(alices("AAPL").slice(0, MAX_CANCEL_ALL));
  expect(aapl.openOrdersLeft).toBe(30);
  const rest = await cancelAll("all-2");
  expect(cancelled(rest)).toEqual([...alices("ETH-USD").slice(MAX_CANCEL_ALL - 60), ...alices("AAPL").slice(100)]);
  expect(rest.openOrdersLeft).toBe(0);
  const none = await cancelAll("all-3");
  expect([none.affected, none.openOrdersLeft, none.status, none.version]).toEqual([[], 0, "CANCELLED", null]);

  // Replays return the stored result; the same id with another scope or client is refused and changes nothing.
  for (const [again, symbol] of [
    [everywhere, undefined],
    [aapl, "AAPL"],
  ] as const) {
    expect(JSON.stringify(await cancelAll(again === aapl ? "aapl-1" : "all-1", symbol))).toBe(
      JSON.stringify({ ...again, replayed: true }),
    );
  }
  for (const [commandId, symbol, clientId] of [
    ["all-1", "BTC-USD", "alice"],
    ["aapl-1", undefined, "alice"],
    ["aapl-1", "AAPL", "bob"],
    ["all-1", undefined, "bob"],
  ] as const) {
    const refused = await cancelAll(commandId, symbol, clientId);
    expect([refused.reason, refused.version]).toEqual(["DUPLICATE_COMMAND_ID", null]);
  }
  const bobs = await cancelAll("bob", "AAPL", "bob");
  expect([cancelled(bobs).length, bobs.openOrdersLeft]).toEqual([13, 0]);
  await expectBooksAsModel(model);
});

test("many clients submitting, amending and cancelling on one symbol at once act as one sequence in version order", async () => {
  await redis.flushdb();
  const clients = Array.from({ length: 16 }, () => connect(REDIS_DB.orderbookProperties));
  const engines = clients.map((c) => new MatchingEngine({ redis: c, instruments }));
  const perClient = 150;
  const draws = fc.sample(
    fc.tuple(
      fc.boolean(),
      fc.integer({ min: -5, max: 5 }),
      fc.integer({ min: 1, max: 20 }),
      fc.nat(11),
      fc.nat(STP_MODES.length),
    ),
    { numRuns: 16 * perClient, seed: 42 },
  );
  const runs: { command: Command; result: CommandResult }[] = [];
  await Promise.all(
    engines.map(async (e, c) => {
      const clientId = `client${c}`;
      let last = `k${c}-0`;
      for (let n = 0; n < perClient; n++) {
        const [buy, offset, lots, kind, stp] = draws[c * perClient + n]!;
        const id = `k${c}-${n}`;
        const timestamp = T0 + c * 1000 + n;
        const base = { clientId, symbol: "AAPL", timestamp } as const;
        const target = { ...base, commandId: `x${c}-${n}`, orderId: last };
        const aaplPrice = priceOf("AAPL", { band: 0, offset });
        const mode = stp < STP_MODES.length ? { selfTradePrevention: STP_MODES[stp] } : {};
        const side = buy ? "BUY" : "SELL";
        const command: Command =
          kind === 0
            ? { type: "MARKET", ...base, orderId: id, side, quantity: String(lots), ...mode }
            : kind === 1
              ? { type: "CANCEL", ...target }
              : kind === 2
                ? { type: "AMEND", ...target, price: aaplPrice }
                : kind === 3
                  ? { type: "AMEND", ...target, quantity: String(lots) }
                  : kind === 4 && n % 3 === 0
                    ? { type: "CANCEL_ALL", ...base, commandId: `x${c}-${n}` }
                    : { type: "LIMIT", ...base, orderId: id, side, price: aaplPrice, quantity: String(lots), ...mode };
        if (command.type === "LIMIT" || command.type === "MARKET") last = id;
        runs.push({ command, result: await e.execute(command) });
      }
    }),
  );
  const trades = runs.flatMap((r) => r.result.trades);
  expect(trades.map((t) => t.sequence).sort((a, b) => a - b)).toEqual(trades.map((_, i) => i + 1));
  expect(trades.length).toBeGreaterThan(100);
  expect(runs.filter((r) => r.result.commandType === "AMEND" && r.result.reason === null).length).toBeGreaterThan(50);
  expect(runs.some((r) => r.result.selfTradePreventions.length > 0)).toBe(true);
  // Every command reached the book and got its own version: 1..n, none lost, none shared.
  runs.sort((a, b) => a.result.version! - b.result.version!);
  expect(runs.map((r) => r.result.version)).toEqual(runs.map((_, i) => i + 1));
  // Each script ran alone: the commands in version order through the model give the same results.
  const model = new ReferenceBook(INSTRUMENTS);
  for (const { command, result } of runs)
    expect({ command, ...predicted(result) }).toEqual({ command, ...model.execute(command) });
  await expectBooksAsModel(model);
  const ids = runs.flatMap(({ command }) => ("orderId" in command ? [command.orderId] : []));
  await checkInvariants(engine, "AAPL", ids, trades);
  await Promise.all(clients.map((c) => c.quit()));
});
