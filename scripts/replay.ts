// npm run replay -- [journal.jsonl] [--instruments instruments.json]
// Reads engine commands as JSON lines (a file, or stdin) and runs them in order against REDIS_URL, writing one
// CommandResult JSON line per input line as soon as its command has finished: an operator piping commands in sees
// each result before sending the next line. Commands already processed come back as their original result with
// "replayed": true, so a journal can be re-run to check a book or rebuilt onto an empty Redis.
// Exit codes: 0 every line was run (rejections and lines that are not JSON are results too); 1 the --instruments
// file is unreadable or invalid; 2 REDIS_URL is not set; 3 a command failed in Redis (unreachable, timed out, or an
// error reply). On 3 the results before that command are already written and stderr names the command, whose
// outcome is unknown, and the lines not run; commands are idempotent, so re-running the whole journal is safe.
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
// A command fails within seconds when Redis is down or stalls, instead of waiting in ioredis' offline queue while
// it reconnects forever; and after a failure, disconnecting does not wait 2 s for a socket that is already gone.
const redis = new Redis(url, {
  connectTimeout: 2000,
  commandTimeout: 5000,
  maxRetriesPerRequest: 1,
  disconnectTimeout: 100,
});
let connectionError = "";
// The failing command reports an outage; listening keeps ioredis' "Unhandled error event" noise off stderr.
redis.on("error", (err: Error) => {
  connectionError = err.message;
});
const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(instruments) });
const source = positionals[0] ? createReadStream(positionals[0]) : process.stdin;
const input = createInterface({ input: source, crlfDelay: Infinity });

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
  let result: CommandResult;
  try {
    result = await engine.execute(value);
  } catch (err) {
    // execute throws only for a command that parsed: it has an orderId, a commandId or both.
    const { orderId, commandId } = value as { orderId?: string; commandId?: string };
    const ids = [orderId && `orderId ${orderId}`, commandId && `commandId ${commandId}`].filter(Boolean).join(", ");
    const { name, message } = err as Error;
    const cause = connectionError ? ` (last connection error: ${connectionError})` : "";
    console.error(`replay: line ${lineNo} (${ids}) failed, its outcome is unknown: ${name}: ${message}${cause}`);
    console.error(`replay: lines after ${lineNo} were not run; commands are idempotent, so re-run the whole journal.`);
    process.exitCode = 3;
    break;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
if (process.exitCode === 3) {
  // An open stdin pipe would keep the process waiting for lines it will not run.
  source.destroy();
  redis.disconnect();
} else {
  await redis.quit();
}
