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
const redis = new Redis(url);
const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(instruments) });
const input = createInterface({
  input: positionals[0] ? createReadStream(positionals[0]) : process.stdin,
  crlfDelay: Infinity,
});

// One command at a time, in journal order: a submit is two Redis calls (the order id's claim, then the script),
// so commands in flight together could reach the book out of order.
let lineNo = 0;
for await (const line of input) {
  lineNo += 1;
  if (!line.trim()) continue;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    process.stdout.write(`${JSON.stringify({ line: lineNo, error: "not JSON" })}\n`);
    continue;
  }
  const result: CommandResult = await engine.execute(value);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
await redis.quit();
