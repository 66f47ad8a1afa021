// The matching-engine demo: a few thousand random orders over several symbols against a local Redis
// (REDIS_URL, or a throwaway redis-server started here), then the books' top levels and a trade summary.
import { parseArgs } from "node:util";
import { divideRounded, formatScaled, fromUnits, parseDecimal, toUnits } from "@tradeflow/common/decimal";
import { instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { type EngineCommandInput, MatchingEngine, type OrderStatus } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import { startRedis } from "../local/servers";

const { values } = parseArgs({
  options: { orders: { type: "string", default: "5000" }, seed: { type: "string", default: "7" } },
});
const total = Number(values.orders);
let state = Number(values.seed) >>> 0;
const rand = (n: number) => {
  state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0; // LCG: a seeded, repeatable stream
  return state % n;
};

const server = process.env.REDIS_URL ? undefined : await startRedis();
const redis = new Redis(process.env.REDIS_URL ?? server!.endpoint, { enableAutoPipelining: true });
await redis.flushdb();
const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(SAMPLE_INSTRUMENTS) });
const mid: Record<string, bigint> = { "BTC-USD": 6_500_000n, "ETH-USD": 320_000n, AAPL: 18_500n };
const clients = ["acme", "globex", "initech", "umbrella", "hooli"];

const statuses = new Map<OrderStatus, number>();
const reasons = new Map<string, number>();
const perSymbol = new Map<string, { trades: number; lots: bigint; tickLots: bigint }>();
const units = (value: string, step: string) => {
  const r = toUnits(value, step, 10n ** 30n);
  if (!r.ok) throw new Error(`engine returned off-grid ${value}`);
  return r.units;
};
const open: { orderId: string; clientId: string; symbol: string }[] = [];
const started = performance.now();

for (let i = 0; i < total; i++) {
  const inst = SAMPLE_INSTRUMENTS[rand(SAMPLE_INSTRUMENTS.length)]!;
  const clientId = clients[rand(clients.length)]!;
  const side = rand(2) ? "BUY" : "SELL";
  const roll = rand(100);
  const quantity = fromUnits(BigInt(1 + rand(40)), inst.lotSize);
  const price = fromUnits(
    mid[inst.symbol]! + BigInt(rand(41) - 20) * (side === "BUY" ? 1n : -1n) - (side === "BUY" ? 6n : -6n),
    inst.tickSize,
  );
  const orderId = `d${i}`;
  let command: EngineCommandInput;
  if (roll < 15 && open.length) {
    const target = open.splice(rand(open.length), 1)[0]!;
    command = { type: "CANCEL", commandId: `x${i}`, ...target };
  } else if (roll < 25) {
    command = { type: "MARKET", orderId, clientId, symbol: inst.symbol, side, quantity };
  } else {
    const timeInForce = roll < 32 ? "IOC" : roll < 36 ? "FOK" : "GTC";
    command = {
      type: "LIMIT",
      orderId,
      clientId,
      symbol: inst.symbol,
      side,
      price,
      quantity,
      timeInForce,
      postOnly: roll >= 36 && roll < 40,
    };
  }
  const r = await engine.execute(command);
  statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  if (r.reason) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
  if (r.status === "NEW" || r.status === "PARTIALLY_FILLED") open.push({ orderId, clientId, symbol: inst.symbol });
  const s = perSymbol.get(inst.symbol) ?? { trades: 0, lots: 0n, tickLots: 0n };
  for (const t of r.trades) {
    const lots = units(t.quantity, inst.lotSize);
    s.trades += 1;
    s.lots += lots;
    s.tickLots += lots * units(t.price, inst.tickSize);
  }
  perSymbol.set(inst.symbol, s);
  if (i % 250 === 0 || i === total - 1) {
    const done = Math.round(((i + 1) / total) * 40);
    process.stdout.write(`\r[${"#".repeat(done)}${".".repeat(40 - done)}] ${i + 1}/${total} commands`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(`\n\n${total} commands in ${seconds.toFixed(2)} s (${Math.round(total / seconds)}/s, one at a time)\n`);

for (const inst of SAMPLE_INSTRUMENTS) {
  const book = await engine.depth(inst.symbol, 5);
  console.log(`${inst.symbol}  last ${book.lastTradePrice ?? "-"}  trades ${book.tradeSequence}`);
  console.log(`  ${"BID qty".padStart(14)} ${"price".padStart(12)} | ${"price".padEnd(12)} ${"ASK qty".padEnd(14)}`);
  for (let i = 0; i < 5; i++) {
    const b = book.bids[i];
    const a = book.asks[i];
    console.log(
      `  ${(b?.quantity ?? "").padStart(14)} ${(b?.price ?? "").padStart(12)} | ${(a?.price ?? "").padEnd(12)} ${(a?.quantity ?? "").padEnd(14)}`,
    );
  }
  console.log("");
}
console.log("Trades:");
for (const inst of SAMPLE_INSTRUMENTS) {
  const s = perSymbol.get(inst.symbol);
  if (!s || s.lots === 0n) continue;
  const [tick, lot] = [parseDecimal(inst.tickSize)!, parseDecimal(inst.lotSize)!];
  const notional = formatScaled(s.tickLots * tick.digits * lot.digits, tick.scale + lot.scale);
  const vwap = divideRounded(s.tickLots * tick.digits, s.lots * 10n ** BigInt(tick.scale), tick.scale + 4);
  console.log(
    `  ${inst.symbol.padEnd(8)} ${String(s.trades).padStart(5)} trades  volume ${fromUnits(s.lots, inst.lotSize)} ${inst.baseCurrency}  notional ${notional} ${inst.quoteCurrency}  VWAP ${vwap}`,
  );
}
console.log("Outcomes:", Object.fromEntries(statuses));
console.log("Rejections by reason:", Object.fromEntries(reasons));
await redis.quit();
await server?.stop();
