// `npm run replay` end to end: a journal in, one result line per journal line out; a second run changes nothing.
import { execFileSync } from "node:child_process";
import { Redis } from "ioredis";

const journal = [
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
]
  .map((c) => JSON.stringify(c))
  .concat("{not json")
  .join("\n");

const url = `${process.env.REDIS_URL}/4`;
const replay = (): Record<string, unknown>[] =>
  execFileSync("npx", ["tsx", "scripts/replay.ts"], {
    input: journal,
    env: { ...process.env, REDIS_URL: url },
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
