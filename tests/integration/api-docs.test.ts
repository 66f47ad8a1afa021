// The README's trading API block, run as a user runs it (docs/deploy.md sends deployed-stack users to the same
// lines): bash, `npm run token -- --export` against a stack file, and the real curl. Each curl's answer must have
// the status its comment claims, with a JSON body of the kind the comment names.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../local/servers";
import type { LocalStack } from "../../local/stack";
import { stackInfo, writeStackFile } from "../../local/stack-file";
import { harnessStack } from "../support/pipeline";
import { REDIS_DB } from "../support/redis-db";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "tradeflow-api-docs-"));
let stack: LocalStack;

/** The fenced bash block that follows the README's "## The trading API" heading. */
function readmeBlock(): string[] {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The trading API\n"));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block.split("\n").filter((line) => line.trim() !== "");
}

beforeAll(async () => {
  stack = await harnessStack("apidocs", REDIS_DB.apiDocs);
  writeStackFile(stackInfo(stack), join(dir, "stack.json"));
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("every curl line of the README's block answers what its comment says", async () => {
  const lines = readmeBlock();
  expect(lines[0]).toMatch(/^npm run local\b/);
  const commands = lines.slice(1);
  const claims = commands
    .filter((line) => line.startsWith("curl "))
    .map((line) => {
      const claim = /#\s*(\d{3})\b/.exec(line);
      if (!claim) throw new Error(`no status in the comment of: ${line}`);
      return Number(claim[1]);
    });
  expect(claims.length).toBeGreaterThanOrEqual(10);

  // curl as a function: the same arguments, plus where to put the body and what to print (the status).
  const script = [
    "set -euo pipefail",
    "n=0",
    'curl() { n=$((n + 1)); command curl "$@" -o "$OUT/$n.body" -w "%{http_code}\\n" >>"$OUT/statuses"; }',
    ...commands,
  ].join("\n");
  const env = {
    ...process.env,
    OUT: dir,
    TRADEFLOW_STACK_FILE: join(dir, "stack.json"),
    PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
  };
  await run("bash", ["-c", script], { cwd: repoRoot, env });

  const statuses = readFileSync(join(dir, "statuses"), "utf8").trim().split("\n").map(Number);
  expect(statuses).toEqual(claims);
  const bodies = claims.map((_, i) => JSON.parse(readFileSync(join(dir, `${i + 1}.body`), "utf8")));
  const [submitted, order] = bodies;
  expect(submitted).toEqual({ FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] });
  expect(order.order).toMatchObject({ orderId: "A-1", clientId: "acme", symbol: "BTC-USD", status: "NEW" });
  for (const [i, status] of claims.entries()) {
    const body = bodies[i];
    if (status === 401) expect(body).toEqual({ message: "Unauthorized" });
    else if (status >= 400) expect(body).toMatchObject({ status, code: expect.any(String), type: expect.any(String) });
  }
});
