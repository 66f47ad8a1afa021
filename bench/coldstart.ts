// npm run bench:coldstart [-- --runs 10]
// Cold starts of every function's bundle (build/<name>/, built by the npm script first): for each, fresh node
// processes that import the bundle and run its first invocation on a sample event, with the function's template
// environment resolved to local servers (redis-server, DynamoDB Local, moto) started for the run, as
// `npm run invoke` does. The baseline, in the same rounds, is a dependency-free module. Reports bundle sizes and
// median times with their ratio to the baseline. Results: stdout (markdown), bench/results/coldstart.json, and
// bench/coldstart-init.json (committed: the measured imports the cost model's INIT is scaled from).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Metafile } from "esbuild";
import { functionBaseEnvironment, localFunctions } from "../local/lambda/functions";
import { lambdaEnvironment } from "../local/lambda/host";
import { provisionFromTemplate } from "../local/provision";
import { startDynamoDbLocal, startMoto, startRedis } from "../local/servers";
import { loadTemplate } from "../local/template";
import { bundleBytes } from "../scripts/build";
import { localCredentials } from "../scripts/cli";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const RUNS = Number(values.runs);

/** The sample event (events/<name>/) each function's first invocation gets: one that succeeds. */
const SAMPLES: Record<string, string> = {
  alerter: "ticks-crossing.json",
  enricher: "order-submitted-btc-usd.json",
  matcher: "limit-sell.json",
  recorder: "record-matched-order.json",
  validator: "order-cancel-requested.json",
};

interface Probe {
  importMs: number;
  invokeMs: number;
}

function probe(args: string[], env: Record<string, string>): Probe {
  const run = spawnSync(process.execPath, [join("bench", "coldstart-probe.mjs"), ...args], { env, encoding: "utf8" });
  const last = run.stdout.trim().split("\n").pop() ?? "";
  if (run.status !== 0 || !last.startsWith("{")) throw new Error(`probe ${args[0]} failed:\n${run.stderr}`);
  return JSON.parse(last) as Probe;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

localCredentials();
const servers = await Promise.all([startRedis(), startDynamoDbLocal(), startMoto()]);
try {
  const [redis, dynamo, moto] = servers;
  const endpoints = { redisUrl: redis.endpoint, dynamoEndpoint: dynamo.endpoint, motoEndpoint: moto.endpoint };
  const resources = await provisionFromTemplate(loadTemplate(), {
    dynamoEndpoint: dynamo.endpoint,
    motoEndpoint: moto.endpoint,
    region: "us-east-1",
    stage: "dev",
  });
  const base = functionBaseEnvironment(resources, endpoints);
  const targets = localFunctions(resources, { redisUrl: redis.endpoint }).map((fn) => {
    const name = basename(dirname(fn.bundle));
    const sample = SAMPLES[name];
    if (!sample) throw new Error(`no sample event for ${name}`);
    const event = readFileSync(join("events", name, sample), "utf8");
    const args = [pathToFileURL(fn.bundle).href, fn.handlerName, event, fn.name, fn.arn, String(fn.memorySize)];
    return { id: fn.logicalId, name, args, env: lambdaEnvironment(fn, base), runs: [] as Probe[] };
  });
  const baseline = {
    args: [pathToFileURL(join("bench", "coldstart-baseline.mjs")).href, "handler", "{}"],
    env: base,
    runs: [] as Probe[],
  };
  // Rounds rather than one function at a time: what else the machine does then falls on every target alike.
  for (let round = 0; round < RUNS; round++) {
    for (const t of [baseline, ...targets]) t.runs.push(probe(t.args, t.env));
    process.stderr.write(`round ${round + 1}/${RUNS}\n`);
  }

  const baseImport = median(baseline.runs.map((r) => r.importMs));
  const rows = targets.map((t) => {
    const meta = JSON.parse(readFileSync(join("build", `${t.name}.meta.json`), "utf8")) as Metafile;
    const { initBytes, totalBytes } = bundleBytes(meta);
    const importMs = median(t.runs.map((r) => r.importMs));
    const invokeMs = median(t.runs.map((r) => r.invokeMs));
    return { function: t.id, initBytes, totalBytes, importMs, invokeMs, vsBaseline: importMs / baseImport };
  });
  const result = {
    runs: RUNS,
    node: process.version,
    baseline: { importMs: baseImport, invokeMs: median(baseline.runs.map((r) => r.invokeMs)) },
    functions: rows,
  };
  mkdirSync(join("bench", "results"), { recursive: true });
  writeFileSync(join("bench", "results", "coldstart.json"), `${JSON.stringify(result, null, 2)}\n`);
  const init = Object.fromEntries(rows.map((r) => [r.function, Number(r.importMs.toFixed(1))]));
  writeFileSync(join("bench", "coldstart-init.json"), `${JSON.stringify({ importMs: init }, null, 2)}\n`);

  const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
  console.log(`median of ${RUNS} fresh processes each, Node ${process.version}`);
  console.log("| function | loaded at cold start | all code | import ms | ×baseline | first invocation ms |");
  console.log("|---|---|---|---|---|---|");
  console.log(
    `| baseline (no dependencies) | | | ${baseImport.toFixed(1)} | 1.0× | ${result.baseline.invokeMs.toFixed(1)} |`,
  );
  for (const r of rows) {
    console.log(
      `| ${r.function} | ${kb(r.initBytes)} | ${kb(r.totalBytes)} | ${r.importMs.toFixed(1)} | ${r.vsBaseline.toFixed(1)}× | ${r.invokeMs.toFixed(1)} |`,
    );
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
