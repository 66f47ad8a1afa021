// npm run replay -- [journal.jsonl] [--instruments instruments.json]
// Reads engine commands as JSON lines (a file, or stdin) and runs them in order against REDIS_URL, writing one
// CommandResult JSON line per input line. Commands already processed come back as their original result with
// "replayed": true, so a journal can be re-run to check a book or rebuilt onto an empty Redis.
import { createReadStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { InstrumentListSchema, instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { type CommandResult, MatchingEngine } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { instruments: { type: "string" } } });
const instruments = values.instruments
  ? InstrumentListSchema.parse(JSON.parse(readFileSync(values.instruments, "utf8")))
  : SAMPLE_INSTRUMENTS;
const url = process.env.REDIS_URL;
if (!url) {
  console.error("Set REDIS_URL (for example redis://127.0.0.1:6379) to the Redis holding the books.");
  process.exit(2);
}
const redis = new Redis(url, { enableAutoPipelining: true });
const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(instruments) });
const input = createInterface({
  input: positionals[0] ? createReadStream(positionals[0]) : process.stdin,
  crlfDelay: Infinity,
});

// One connection sends in order, so commands stay in journal order even with many in flight.
const WINDOW = 256;
let inFlight: Promise<string>[] = [];
let lineNo = 0;
const flush = async () => {
  for (const line of await Promise.all(inFlight)) process.stdout.write(`${line}\n`);
  inFlight = [];
};
const run = (value: unknown) => engine.execute(value).then((r: CommandResult) => JSON.stringify(r));

for await (const line of input) {
  lineNo += 1;
  if (!line.trim()) continue;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    inFlight.push(Promise.resolve(JSON.stringify({ line: lineNo, error: "not JSON" })));
    continue;
  }
  // The first command loads the scripts (EVALSHA falls back to EVAL once); after it, pipelining is safe.
  if (lineNo === 1) process.stdout.write(`${await run(value)}\n`);
  else inFlight.push(run(value));
  if (inFlight.length >= WINDOW) await flush();
}
await flush();
await redis.quit();
