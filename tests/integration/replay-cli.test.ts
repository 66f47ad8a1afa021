// `npm run replay` end to end: a journal in, one result line per journal line out; a second run changes nothing.
// Results stream while stdin stays open, and a Redis outage stops the run with exit code 3, safe to rerun.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { startRedis } from "../../local/servers";
import { REDIS_DB, redisDbUrl } from "../support/redis-db";

const commands = [
  {
    type: "LIMIT",
    orderId: "j-1",
    clientId: "acme",
    symbol: "ETH-USD",
    side: "SELL",
    price: "3200.5",
    quantity: "1.5",
    timestamp: 1,
  },
  {
    type: "LIMIT",
    orderId: "j-2",
    clientId: "globex",
    symbol: "ETH-USD",
    side: "BUY",
    price: "3201",
    quantity: "0.5",
    timestamp: 2,
  },
  { type: "CANCEL", commandId: "jc-1", orderId: "j-1", clientId: "acme", symbol: "ETH-USD", timestamp: 3 },
];
const journal = commands
  .map((c) => JSON.stringify(c))
  .concat("{not json")
  .join("\n");

const url = redisDbUrl(REDIS_DB.replayCli);
const replay = (redisUrl = url): Record<string, unknown>[] =>
  execFileSync("npx", ["tsx", "scripts/replay.ts"], {
    input: journal,
    env: { ...process.env, REDIS_URL: redisUrl },
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));

test("replay writes a result per line, and a second pass is all replays", async () => {
  const redis = new Redis(url);
  await redis.del(...(await redis.keys("tf:{ETH-USD}:*")), "unused");
  const first = replay();
  expect(first.map((r) => r.status ?? r.error)).toEqual(["NEW", "FILLED", "CANCELLED", "not JSON"]);
  expect(first[1]).toMatchObject({
    averagePrice: "3200.5",
    trades: [expect.objectContaining({ tradeId: "ETH-USD-1", timestamp: 2 })],
  });
  const second = replay();
  expect(second.slice(0, 3).map((r) => r.replayed)).toEqual([true, true, true]);
  expect(second.slice(0, 3).map(({ replayed, ...rest }) => rest)).toEqual(
    first.slice(0, 3).map(({ replayed, ...rest }) => rest),
  );
  await redis.quit();
});

/** replay with stdin and stdout as pipes: `send` writes one line and waits for one result, stdin left open. */
function interactiveReplay(redisUrl: string) {
  const child = spawn("npx", ["tsx", "scripts/replay.ts"], { env: { ...process.env, REDIS_URL: redisUrl } });
  const results = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    child,
    stderr: () => stderr,
    async send(line: string): Promise<Record<string, unknown>> {
      child.stdin.write(`${line}\n`);
      const next = await results.next();
      if (next.done) throw new Error(`replay ended without a result: ${stderr}`);
      return JSON.parse(next.value);
    },
  };
}

test("replay writes each result before the next line arrives, stdin still open", async () => {
  const redis = new Redis(redisDbUrl(REDIS_DB.replayCliInteractive));
  await redis.flushdb();
  const session = interactiveReplay(redisDbUrl(REDIS_DB.replayCliInteractive));
  const [sell, buy, cancel] = commands.map((c) => JSON.stringify(c));
  expect(await session.send(sell!)).toMatchObject({ orderId: "j-1", status: "NEW" });
  expect(await session.send("{not json")).toEqual({ line: 2, error: "not JSON" });
  expect(await session.send(buy!)).toMatchObject({ orderId: "j-2", status: "FILLED" });
  expect(await session.send(cancel!)).toMatchObject({ orderId: "j-1", status: "CANCELLED" });
  session.child.stdin.end();
  expect(await once(session.child, "close")).toEqual([0, null]);
  await redis.quit();
}, 60_000);

test("a Redis outage stops replay with exit 3 naming the unknown command; rerunning the journal completes it", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tradeflow-replay-redis-"));
  let server = await startRedis(undefined, { dataDir });
  try {
    const session = interactiveReplay(server.endpoint);
    const lines = journal.split("\n");
    expect(await session.send(lines[0]!)).toMatchObject({ orderId: "j-1", status: "NEW" });
    expect(await session.send(lines[1]!)).toMatchObject({ orderId: "j-2", status: "FILLED" });
    await server.stop();
    // The rest at once, stdin left open: replay must stop by itself at the cancel.
    session.child.stdin.write(`${lines.slice(2).join("\n")}\n`);
    expect(await once(session.child, "close")).toEqual([3, null]);
    expect(session.stderr()).toContain("line 3 (orderId j-1, commandId jc-1) failed, its outcome is unknown");
    expect(session.stderr()).toContain("MatcherUnavailableError");
    expect(session.stderr()).toContain("lines after 3 were not run");

    server = await startRedis(server.port, { dataDir });
    const rerun = replay(server.endpoint);
    expect(rerun.map((r) => r.status ?? r.error)).toEqual(["NEW", "FILLED", "CANCELLED", "not JSON"]);
    expect(rerun.slice(0, 3).map((r) => r.replayed)).toEqual([true, true, false]);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
