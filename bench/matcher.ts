// npm run bench:matcher [-- --quick]
// The matching engine against its own throwaway redis-server. Reports, in one run: a plain SET baseline, a
// realistic order mix (commands/s, client p50/p99, Redis-side µs per command) at several concurrency levels,
// and a depth sweep from 1k to 1M resting orders. Ratios to the SET baseline and to the 1k book are the
// figures to compare across machines. Results: stdout (markdown) and bench/results/matcher.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { fromUnits } from "@tradeflow/common/decimal";
import { instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { type EngineCommandInput, MatchingEngine } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import { startRedis } from "../local/servers";
import { percentile, runInfo } from "./measure";

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
const QUICK = values.quick;
const SYMBOL = "AAPL";
const MID = 18_500n; // 185.00 in ticks of 0.01
const instruments = instrumentRegistry(SAMPLE_INSTRUMENTS);

const server = await startRedis();
const admin = new Redis(server.endpoint);
let state = 12345;
const rand = (n: number) => {
  state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
  return state % n;
};

async function redisUsecPerCall(command: string): Promise<number> {
  const info = await admin.info("commandstats");
  const m = new RegExp(`cmdstat_${command}:calls=(\\d+),usec=(\\d+)`).exec(info);
  return m ? Number(m[2]) / Number(m[1]) : Number.NaN;
}

/** Runs `count` operations from `clients` connections, each keeping `window` in flight. */
async function drive(
  count: number,
  clients: number,
  window: number,
  op: (conn: Redis, engine: MatchingEngine, i: number) => Promise<unknown>,
) {
  const conns = Array.from({ length: clients }, () => new Redis(server.endpoint, { enableAutoPipelining: true }));
  const engines = conns.map((redis) => new MatchingEngine({ redis, instruments }));
  await Promise.all(engines.map((e, i) => op(conns[i]!, e, -1 - i))); // loads the scripts on every connection
  await admin.config("RESETSTAT");
  const latencies = new Float64Array(count);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    conns.flatMap((conn, c) =>
      Array.from({ length: window }, async () => {
        while (next < count) {
          const i = next++;
          const t0 = performance.now();
          await op(conn, engines[c]!, i);
          latencies[i] = performance.now() - t0;
        }
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(conns.map((c) => c.quit()));
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return { perSecond: count / seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/** Removes and returns a random element in O(1): swap with the last. */
function takeRandom<T>(list: T[]): T | undefined {
  if (!list.length) return undefined;
  const i = rand(list.length);
  const picked = list[i]!;
  list[i] = list[list.length - 1]!;
  list.pop();
  return picked;
}

let seq = 0;
const resting: string[] = [];
const owners = new Map<string, { clientId: string; side: "BUY" | "SELL" }>();

function gtcNearTouch(side: "BUY" | "SELL", spreadLevels: number): EngineCommandInput {
  const away = BigInt(1 + rand(spreadLevels));
  const price = side === "BUY" ? MID - away : MID + away;
  const orderId = `r${seq++}`;
  const clientId = `c${rand(50)}`;
  resting.push(orderId);
  owners.set(orderId, { clientId, side });
  return {
    type: "LIMIT",
    orderId,
    clientId,
    symbol: SYMBOL,
    side,
    price: fromUnits(price, "0.01"),
    quantity: String(1 + rand(20)),
  };
}

/** The realistic mix: new GTC limits near the touch, IOC and market orders that take, cancels and amends. */
function mixed(): EngineCommandInput {
  return mixedOf(rand(100));
}

function mixedOf(roll: number): EngineCommandInput {
  const side = rand(2) ? "BUY" : "SELL";
  if (roll < 45) return gtcNearTouch(side, 375);
  if (roll < 55) {
    const price = side === "BUY" ? MID + 2n : MID - 2n;
    return {
      type: "LIMIT",
      orderId: `i${seq++}`,
      clientId: "taker",
      symbol: SYMBOL,
      side,
      price: fromUnits(price, "0.01"),
      quantity: String(1 + rand(10)),
      timeInForce: "IOC",
    };
  }
  if (roll < 60)
    return {
      type: "MARKET",
      orderId: `m${seq++}`,
      clientId: "taker",
      symbol: SYMBOL,
      side,
      quantity: String(1 + rand(10)),
    };
  if (roll < 90) {
    const orderId = takeRandom(resting) ?? "none";
    const clientId = owners.get(orderId)?.clientId ?? "none";
    return { type: "CANCEL", commandId: `x${seq++}`, orderId, clientId, symbol: SYMBOL };
  }
  return amend();
}

/** Half reduce a resting order in place, half reprice it on its side of the book (it loses its time priority). */
function amend(): EngineCommandInput {
  const orderId = resting[rand(resting.length)] ?? "none";
  const { clientId, side } = owners.get(orderId) ?? { clientId: "none", side: "BUY" };
  const away = BigInt(1 + rand(375));
  const change = rand(2) ? { quantity: "1" } : { price: fromUnits(side === "BUY" ? MID - away : MID + away, "0.01") };
  return { type: "AMEND", commandId: `a${seq++}`, orderId, clientId, symbol: SYMBOL, ...change };
}

/** Fills the book with `n` resting orders spread over `levels` price levels a side. */
async function seedBook(n: number, levels: number) {
  await admin.flushdb();
  resting.length = 0;
  const seeded = await drive(n, 4, 64, (_c, e, i) =>
    e.execute(
      i < 0
        ? { type: "CANCEL", commandId: `w${i}`, orderId: "none", clientId: "w", symbol: SYMBOL }
        : gtcNearTouch(i % 2 ? "BUY" : "SELL", levels),
    ),
  );
  const book = await new MatchingEngine({ redis: admin, instruments }).depth(SYMBOL, 100_000);
  return { seeded, levels: book.bids.length + book.asks.length };
}

const results: Record<string, unknown> = runInfo();
const rows: string[] = [];

// 1. Baseline: plain SET through the same client stack.
const setRun = await drive(QUICK ? 50_000 : 300_000, 8, 64, (conn, _e, i) => conn.set(`bench:${i % 1000}`, "x"));
const setUsec = await redisUsecPerCall("set");
results.baseline = { ...setRun, redisUsecPerCall: setUsec };
rows.push(
  `| SET baseline | 8×64 | ${Math.round(setRun.perSecond)} | ${setRun.p50Ms.toFixed(3)} | ${setRun.p99Ms.toFixed(3)} | ${setUsec.toFixed(2)} | 1.0× |`,
);

// An empty script: the fixed cost of any EVALSHA on this machine, the floor under the engine's figure.
const emptySha = (await admin.script("LOAD", "return 1")) as string;
const emptyRun = await drive(QUICK ? 50_000 : 300_000, 8, 64, (conn) => conn.evalsha(emptySha, 0));
const emptyUsec = await redisUsecPerCall("evalsha");
results.emptyScript = { ...emptyRun, redisUsecPerCall: emptyUsec };
rows.push(
  `| EVALSHA "return 1" | 8×64 | ${Math.round(emptyRun.perSecond)} | ${emptyRun.p50Ms.toFixed(3)} | ${emptyRun.p99Ms.toFixed(3)} | ${emptyUsec.toFixed(2)} | ${(emptyUsec / setUsec).toFixed(1)}× |`,
);

// The floor of a resting order under the engine's guarantees: a function making only the six calls one needs (read
// the stored result, read the state, write state and record, index the order by price-time and by owner, store the
// result with its TTL), with no logic between them. No engine design that keeps those guarantees can go below it.
await admin.function(
  "LOAD",
  "REPLACE",
  `#!lua name=floor
redis.register_function('rest', function(keys, args)
  local prior = redis.call('GET', keys[3])
  if prior then return prior end
  redis.call('HMGET', keys[1], '~', args[1])
  redis.call('HSET', keys[1], '~', '1|1|0||0|||', args[1], 'B|L|18500|5|0|0|N|1|0|0|0|1|N|0|c1', '#B18500', '5')
  redis.call('ZADD', keys[2], 0, string.format('%016d%016d', 18500, tonumber(args[2])) .. args[1])
  redis.call('ZADD', keys[2] .. 'o', 0, 'c1|' .. args[1])
  redis.call('SET', keys[3], 'N', 'EX', 86400)
  return 'N'
end)`,
);
const floorRun = await drive(QUICK ? 20_000 : 200_000, 8, 64, (conn, _e, i) =>
  conn.fcall("rest", 3, "floor:{F}:book", "floor:{F}:bids", `floor:{F}:r:${i}`, `o${i}`, String(i)),
);
const floorUsec = await redisUsecPerCall("fcall");
await admin.function("DELETE", "floor");
results.restingOrderFloor = { ...floorRun, redisUsecPerCall: floorUsec };
rows.push(
  `| floor: a resting order's 6 calls, no logic | 8×64 | ${Math.round(floorRun.perSecond)} | ${floorRun.p50Ms.toFixed(3)} | ${floorRun.p99Ms.toFixed(3)} | ${floorUsec.toFixed(2)} | ${(floorUsec / setUsec).toFixed(1)}× |`,
);

// 2. The realistic mix on a ~1,000-order book over ~750 levels, at several concurrency levels.
const mix: Record<string, unknown> = {};
for (const [clients, window] of [
  [1, 1],
  [4, 16],
  [8, 64],
] as const) {
  const { levels } = await seedBook(1000, 375);
  const n = QUICK ? 20_000 : clients === 1 ? 30_000 : 200_000;
  const run = await drive(n, clients, window, (_c, e) => e.execute(mixed()));
  const usec = await redisUsecPerCall("fcall");
  const book = await new MatchingEngine({ redis: admin, instruments }).depth(SYMBOL, 100_000);
  const restingAfter = [...book.bids, ...book.asks].reduce((s, l) => s + l.orders, 0);
  mix[`${clients}x${window}`] = { ...run, redisUsecPerCall: usec, levelsAtStart: levels, restingAfter };
  rows.push(
    `| order mix, ${levels} levels | ${clients}×${window} | ${Math.round(run.perSecond)} | ${run.p50Ms.toFixed(3)} | ${run.p99Ms.toFixed(3)} | ${usec.toFixed(2)} | ${(usec / setUsec).toFixed(1)}× |`,
  );
}
results.mix = mix;

// 3. Depth sweep: the same mix against books of 1k to 1M resting orders.
const sweep: Record<string, unknown> = {};
const sweepRows: string[] = [];
let base1k = 0;
for (const size of QUICK ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000]) {
  const { levels, seeded } = await seedBook(size, 1000);
  const restingBefore = resting.length;
  const run = await drive(QUICK ? 20_000 : 100_000, 8, 64, (_c, e) => e.execute(mixed()));
  const usec = await redisUsecPerCall("fcall");
  if (size === 1_000) base1k = usec;
  sweep[String(size)] = { ...run, redisUsecPerCall: usec, levels, seedPerSecond: seeded.perSecond, restingBefore };
  sweepRows.push(
    `| ${size.toLocaleString("en")} | ${levels} | ${Math.round(seeded.perSecond)} | ${Math.round(run.perSecond)} | ${usec.toFixed(2)} | ${(usec / base1k).toFixed(2)}× |`,
  );
}
results.depthSweep = sweep;

// 4. Redis calls per command, by type, on the 1k book, one command at a time: commandstats counts the calls a
// function makes. A submit's order-id claim is one more round trip, outside the function, counted apart.
const perType: Record<string, unknown> = {};
const typeRows: string[] = [];
const side = () => (rand(2) ? "BUY" : "SELL");
const TYPES: [string, (i: number) => { setup?: EngineCommandInput[]; command: EngineCommandInput }][] = [
  ["GTC limit that rests", () => ({ command: gtcNearTouch(side(), 375) })],
  ["IOC limit that takes", () => ({ command: mixedOf(50) })],
  ["market order", () => ({ command: mixedOf(57) })],
  ["cancel", () => ({ command: mixedOf(70) })],
  [
    "amend: reduce in place",
    () => ({ command: { ...amend(), price: undefined, quantity: "1" } as EngineCommandInput }),
  ],
  ["amend: reprice", () => ({ command: { ...amend(), quantity: undefined } as EngineCommandInput })],
  [
    "cancel-all of 10 orders",
    (i) => ({
      setup: Array.from({ length: 10 }, () => ({ ...gtcNearTouch(side(), 375), clientId: `kill${i}` })),
      command: { type: "CANCEL_ALL", commandId: `k${seq++}`, clientId: `kill${i}`, symbol: SYMBOL },
    }),
  ],
];
const single = new MatchingEngine({ redis: admin, instruments });
for (const [label, make] of TYPES) {
  await seedBook(1000, 375);
  const planned = Array.from({ length: QUICK ? 200 : 500 }, (_, i) => make(i));
  for (const { setup = [] } of planned) for (const c of setup) await single.execute(c);
  await admin.config("RESETSTAT");
  let claims = 0;
  for (const { command } of planned) {
    const result = await single.execute(command);
    if (result.version !== null && (command.type === "LIMIT" || command.type === "MARKET")) claims += 1;
  }
  let calls = 0;
  let usec = 0;
  for (const [, name, count, time] of (await admin.info("commandstats")).matchAll(
    /cmdstat_(\w+):calls=(\d+),usec=(\d+)/g,
  )) {
    if (name === "fcall") usec += Number(time);
    else if (name !== "config" && name !== "info") calls += Number(count);
  }
  const row = {
    commands: planned.length,
    callsPerCommand: (calls - claims) / planned.length,
    fcallUsec: usec / planned.length,
  };
  perType[label] = row;
  typeRows.push(`| ${label} | ${row.callsPerCommand.toFixed(1)} | ${row.fcallUsec.toFixed(1)} |`);
}
results.callsPerType = perType;

console.log("\n### Throughput and latency (client p50/p99 include queueing behind the in-flight window)\n");
console.log("| workload | clients×in-flight | commands/s | p50 ms | p99 ms | Redis µs/command | vs SET |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log("\n### Depth sweep (same mix, 8×64)\n");
console.log("| resting orders | levels | seed orders/s | mix commands/s | Redis µs/command | vs 1k book |");
console.log("|---|---|---|---|---|---|");
for (const r of sweepRows) console.log(r);
console.log(
  "\n### Redis calls inside the function, per command (1k book, one at a time; a submit adds its id claim)\n",
);
console.log("| command | Redis calls | µs per FCALL |");
console.log("|---|---|---|");
for (const r of typeRows) console.log(r);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/matcher.json", JSON.stringify(results, null, 2));
await admin.quit();
await server.stop();
