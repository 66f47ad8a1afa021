// Schemathesis (PyPI; setup's .venv-schemathesis) fuzzes the local trading API from docs/openapi.yaml: valid and
// invalid parameters and bodies on every operation, with a token for one client, on a stack whose book and
// records hold a few orders and a trade. It fails on any 5xx, any answer whose status, content type, headers or
// body the description does not allow, and any operation that answers without the token.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../local/servers";
import type { LocalStack } from "../../local/stack";
import { harnessStack } from "../support/pipeline";
import { REDIS_DB } from "../support/redis-db";

const run = promisify(execFile);
let stack: LocalStack;

async function submit(token: string, order: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${stack.apiEndpoint}/orders`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ symbol: "BTC-USD", type: "LIMIT", quantity: "0.5", ...order }),
  });
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  stack = await harnessStack("fuzz", REDIS_DB.schemathesis);
  const seller = await stack.issuer.token("seller");
  await submit(seller, { orderId: "S-1", side: "SELL", price: "50000" });
  await submit(await stack.issuer.token("fuzzer"), { orderId: "F-1", side: "BUY", price: "50000", quantity: "0.2" });
  await stack.idle();
});

afterAll(() => stack?.stop());

test("no 5xx and no answer outside docs/openapi.yaml, over every operation", async () => {
  const token = await stack.issuer.token("fuzzer");
  const args = [
    "--config-file=tests/schemathesis.toml",
    "run",
    "docs/openapi.yaml",
    `--url=${stack.apiEndpoint}`,
    `--header=Authorization: Bearer ${token}`,
    "--checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth",
    "--mode=all",
    "--max-examples=30",
    "--seed=20261202",
    "--workers=2",
    "--generation-database=none",
    "--no-color",
  ];
  const st = join(repoRoot, ".venv-schemathesis", "bin", "st");
  const result = await run(st, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }).then(
    (out) => ({ code: 0, ...out }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? -1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    }),
  );
  // The summary lines, for the log: operations tested, test cases generated, checks passed.
  console.log(result.stdout.split("\n").slice(-40).join("\n"));
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
  const [, generated, passed] = /(\d+) generated, (\d+) passed/.exec(result.stdout) ?? [];
  expect(Number(generated)).toBeGreaterThan(300);
  expect(passed).toBe(generated);
  const [, selected, total] = /Selected: (\d+)\/(\d+)/.exec(result.stdout) ?? [];
  expect({ selected, tested: /Tested: (\d+)/.exec(result.stdout)?.[1] }).toEqual({ selected: total, tested: total });
});
