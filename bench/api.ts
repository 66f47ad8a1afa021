// npm run bench:api [-- --quick] [-- --levels 1,4,16 --seconds 4 --rounds 2 --warmup 1 --jvm-warmup 10 --orders 300]
// The trading API on the local stack (its own servers): the template's HTTP API with its JWT authorizer against the
// stack's issuer, the read routes through the Query function (its containers are worker threads), and POST /orders
// through the PutEvents integration onto the bus, whose rule starts a workflow per order. A book of `--resting`
// orders (40) on one symbol is seeded through the API first. The clients are closed loops (node:http, keep-alive,
// one request each in flight) in a worker thread of their own, so that they do not share the gateway's event loop.
// The baseline is the same route without a token: API Gateway's own 401 after route selection, throttling and the
// authorizer's first check, with no signature to verify and no integration. A token with a bad signature (also 401)
// adds the RSA verification alone; a POST /orders whose body is not JSON (202, the entry refused) is the write path
// without its workflow. At each concurrency level these and the read routes are warmed up, then run `--seconds` each
// in `--rounds` interleaved slices, so that what else the machine does falls on every target alike. POST /orders
// runs last, for `--seconds` or `--orders` requests, whichever ends first, after a warm-up of a tenth as many and a
// drain. Its figure means "accepted by the bus" (the 202 is PutEvents' answer): the stack is drained (stack.idle())
// after it, and the report says how many executions ended during the phase and how long the backlog took. Reports
// requests/s, p50/p99, ratios to the baseline at the same concurrency, and CPU per request by process and thread
// (Linux /proc). Results: stdout (markdown) and bench/results/api.json.
import { mkdirSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { z } from "zod";
import { startLocalStack } from "../local/stack";
import * as measure from "./measure";

/** In a body: replaced by a number no other request of the run has (each order needs its own orderId). */
const UNIQUE = "<n>";

/** One request as the clients send it, and the answer that counts as a success. */
const Target = z.object({
  name: z.string(),
  method: z.string(),
  url: z.string(),
  headers: z.record(z.string(), z.string()),
  body: z.string().optional(),
  status: z.number(),
  bodyIncludes: z.string().optional(),
});
type Target = z.infer<typeof Target>;
const Phase = z.object({ target: Target, clients: z.number(), seconds: z.number(), maxRequests: z.number() });
type Phase = z.infer<typeof Phase>;
const PhaseResult = z.object({
  latenciesMs: z.array(z.number()),
  failures: z.number(),
  firstFailure: z.string().optional(),
  seconds: z.number(),
  /** The UNIQUE number of the phase's first request. */
  firstUnique: z.number(),
});
type PhaseResult = z.infer<typeof PhaseResult>;
/** The client thread's first message: its thread id, whose CPU is the client's and not the stack's. */
const Ready = z.object({ tid: z.string() });

// ---------------------------------------------------------------- the clients (this file, as a worker thread)

function send(agent: Agent, target: Target, n: number): Promise<{ status: number; body: string }> {
  const body = target.body?.replaceAll(UNIQUE, String(n));
  const length = body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = request(
      target.url,
      { agent, method: target.method, headers: { ...target.headers, ...length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

let unique = 0;

async function drive(agent: Agent, { target, clients, seconds, maxRequests }: Phase): Promise<PhaseResult> {
  const latenciesMs: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  let issued = 0;
  const firstUnique = unique;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (issued < maxRequests && performance.now() < deadline) {
        issued += 1;
        const t0 = performance.now();
        try {
          const res = await send(agent, target, unique++);
          if (res.status === target.status && res.body.includes(target.bodyIncludes ?? "")) {
            latenciesMs.push(performance.now() - t0);
            continue;
          }
          firstFailure ??= `${res.status} ${res.body.slice(0, 200)}`;
        } catch (err) {
          firstFailure ??= String(err);
        }
        failures += 1;
      }
    }),
  );
  const result = { latenciesMs, failures, seconds: (performance.now() - started) / 1000, firstUnique };
  return firstFailure === undefined ? result : { ...result, firstFailure };
}

// ---------------------------------------------------------------- CPU by thread and process (Linux /proc)

const GATEWAY = "gateway, bus, interpreter (node main thread)";
const FUNCTIONS = "functions (worker threads)";
const HELPERS = "node helper threads (GC, libuv)";
const SERVERS = ["redis-server", "DynamoDB Local", "moto"] as const;
const STACK = [GATEWAY, FUNCTIONS, HELPERS, ...SERVERS] as const;
const CLIENT = "client thread";
const ACCOUNTS = [...STACK, CLIENT, "machine"] as const;
/** The accounts the report shows per request. */
const SHOWN = [...STACK, CLIENT] as const;
type Cpu = Record<(typeof ACCOUNTS)[number], number>;

const noCpu = (): Cpu => Object.fromEntries(ACCOUNTS.map((a) => [a, 0])) as Cpu;

/**
 * CPU ms so far by account. This process's threads: the main thread, the client thread, the helpers (the threads
 * there were before any function ran), and the rest, which are the function containers.
 */
function cpuNow(servers: readonly (number | undefined)[], helpers: ReadonlySet<string>, clientTid: string): Cpu {
  const cpu = noCpu();
  for (const [tid, ms] of measure.threadCpuMs()) {
    const account =
      Number(tid) === process.pid ? GATEWAY : tid === clientTid ? CLIENT : helpers.has(tid) ? HELPERS : FUNCTIONS;
    cpu[account] += ms;
  }
  SERVERS.forEach((name, i) => {
    cpu[name] = measure.procStat(`/proc/${servers[i]}/stat`)?.cpuMs ?? 0;
  });
  cpu.machine = measure.machineBusyMs();
  return cpu;
}

const cpuSum = (a: Cpu, b: Cpu, sign = 1): Cpu =>
  Object.fromEntries(ACCOUNTS.map((k) => [k, a[k] + sign * b[k]])) as Cpu;
const cpuScaled = (a: Cpu, factor: number): Cpu => Object.fromEntries(ACCOUNTS.map((k) => [k, a[k] * factor])) as Cpu;

// ---------------------------------------------------------------- the benchmark (main thread)

/** One target at one level, over its slices. */
interface Measured {
  target: string;
  clients: number;
  latenciesMs: number[];
  failures: number;
  firstFailure?: string;
  seconds: number;
  cpu: Cpu;
  /** Wall ms of the Query function's invocations in the host: waiting for a container, the round trip, the handler. */
  functionMs: number[];
  /** The main thread's event loop utilization times the slices' seconds. */
  loopBusySeconds: number;
}

function summarize(m: Measured) {
  const sorted = [...m.latenciesMs].sort((a, b) => a - b);
  const n = sorted.length || 1;
  const stackMs = STACK.reduce((sum, part) => sum + m.cpu[part], 0);
  return {
    target: m.target,
    clients: m.clients,
    requests: sorted.length,
    failures: m.failures,
    ...(m.firstFailure !== undefined && { firstFailure: m.firstFailure }),
    seconds: m.seconds,
    perSecond: sorted.length / m.seconds,
    p50Ms: measure.percentile(sorted, 50),
    p99Ms: measure.percentile(sorted, 99),
    functionP50Ms: measure.percentile(
      [...m.functionMs].sort((a, b) => a - b),
      50,
    ),
    cpuMsPerRequest: cpuScaled(m.cpu, 1 / n),
    stackCpuMsPerRequest: stackMs / n,
    /** Cores other processes on the machine used meanwhile: anything above ~0.1 skews the figures. */
    otherCores: Math.max(0, m.cpu.machine - stackMs - m.cpu[CLIENT]) / 1000 / m.seconds,
    mainThreadLoopUse: m.loopBusySeconds / m.seconds,
  };
}
type Row = ReturnType<typeof summarize>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...measure.loadOptions,
      rounds: { type: "string", default: "2" },
      warmup: { type: "string", default: "1" },
      "jvm-warmup": { type: "string" },
      orders: { type: "string" },
      resting: { type: "string", default: "40" },
    },
  });
  const QUICK = values.quick;
  const LEVELS = (values.levels ?? (QUICK ? "1,16" : "1,4,16")).split(",").map(Number);
  const SECONDS = Number(values.seconds ?? (QUICK ? 2 : 4));
  const ROUNDS = Number(values.rounds);
  const WARMUP = Number(values.warmup);
  // DynamoDB Local's JVM is still compiling through its first thousands of requests: GET /orders/{orderId} runs this
  // long at the largest level before the first level is measured.
  const JVM_WARMUP = Number(values["jvm-warmup"] ?? (QUICK ? 3 : 10));
  const ORDERS = Number(values.orders ?? (QUICK ? 100 : 300));
  const RESTING = Number(values.resting);
  const counts = [...LEVELS, ROUNDS, ORDERS, RESTING].every((n) => Number.isInteger(n) && n > 0);
  if (!counts || !(SECONDS > 0) || !(WARMUP >= 0) || !(JVM_WARMUP >= 0))
    throw new Error(
      "--levels takes positive integers (1,4,16); --seconds, --warmup and --jvm-warmup seconds; --rounds, --orders and --resting positive integers",
    );
  const SYMBOL = "BTC-USD";
  const MAKER = "bench-maker";
  const TAKER = "bench-taker";
  const KNOWN = "BENCH-REST-0";
  const IOC_PREFIX = "BENCH-IOC-";
  const UNLIMITED = Number.MAX_SAFE_INTEGER;

  const bootStarted = performance.now();
  // The route buckets at a million requests a second: they still run on every request, but refuse none (this
  // machine's baseline goes past API Gateway's account quota of 10,000).
  const stack = await startLocalStack({
    stage: "bench",
    retainExecutions: 64,
    parameters: { ApiThrottlingRateLimit: "1000000", ApiThrottlingBurstLimit: "1000000" },
  });
  const bootSeconds = (performance.now() - bootStarted) / 1000;
  const helperThreads = new Set(readdirSync("/proc/self/task"));
  const clientThread = new Worker(new URL(import.meta.url));
  try {
    const { tid: clientTid } = Ready.parse(
      await new Promise((resolve, reject) => {
        clientThread.once("message", resolve);
        clientThread.once("error", reject);
      }),
    );
    const serverPids = [stack.redis, stack.dynamo, stack.moto].map((s) => s?.process.pid);
    const cpuSoFar = () => cpuNow(serverPids, helperThreads, clientTid);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const makerToken = stack.issuer.token(MAKER);
    const takerToken = stack.issuer.token(TAKER);
    const api = stack.apiEndpoint;

    // What a read route spends in its function.
    const invocations = measure.timeInvocations(stack.functions);
    const statuses = new Map<string, number>();
    stack.machine.onExecutionEnd((e) => statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1));
    const ended = () => [...statuses.values()].reduce((sum, n) => sum + n, 0);

    // ------------------------------------------------------------ the book: resting bids and asks around 50,000
    const posted = await Promise.all(
      Array.from({ length: RESTING }, async (_, i) => {
        const buy = i % 2 === 0;
        const level = Math.floor(i / 2);
        const order = {
          orderId: `BENCH-REST-${i}`,
          symbol: SYMBOL,
          side: buy ? "BUY" : "SELL",
          type: "LIMIT",
          price: String(buy ? 49_990 - level : 50_010 + level),
          quantity: "0.1",
        };
        const res = await fetch(`${api}/orders`, {
          method: "POST",
          headers: { ...bearer(makerToken), "content-type": "application/json" },
          body: JSON.stringify(order),
        });
        return `${res.status} ${await res.text()}`;
      }),
    );
    const refused = posted.filter((p) => !p.startsWith('202 {"FailedEntryCount":0'));
    if (refused.length > 0) throw new Error(`seeding: ${refused.length} orders refused, e.g. ${refused[0]}`);
    await stack.idle();
    const book = await fetch(`${api}/books/${SYMBOL}`, { headers: bearer(makerToken) });
    const known = await fetch(`${api}/orders/${KNOWN}`, { headers: bearer(makerToken) });
    const sides = z.object({ bids: z.array(z.unknown()), asks: z.array(z.unknown()) }).parse(await book.json());
    if (known.status !== 200 || sides.bids.length === 0 || sides.asks.length === 0)
      throw new Error(`seeding: GET /orders/${KNOWN} answered ${known.status}; the book has no bids or no asks`);
    const seeded = `${RESTING} resting orders on ${SYMBOL}, ${sides.bids.length} bid and ${sides.asks.length} ask levels at the default depth`;
    process.stderr.write(`stack up in ${bootSeconds.toFixed(1)} s; book: ${seeded}\n`);

    // ------------------------------------------------------------ the targets
    const [header, payload] = makerToken.split(".");
    const [, , otherSignature] = takerToken.split(".");
    const BASELINE = "baseline: GET /books/{symbol} without a token (401)";
    const books = `${api}/books/${SYMBOL}`;
    const knownOrder: Target = {
      name: "GET /orders/{orderId}",
      method: "GET",
      url: `${api}/orders/${KNOWN}`,
      headers: bearer(makerToken),
      status: 200,
      bodyIncludes: `"orderId":"${KNOWN}"`,
    };
    /** The targets that start no workflow, so leave nothing behind: measured in interleaved rounds. */
    const steady: Target[] = [
      { name: BASELINE, method: "GET", url: books, headers: {}, status: 401 },
      {
        name: "GET /books/{symbol}, bad signature (401)",
        method: "GET",
        url: books,
        headers: bearer(`${header}.${payload}.${otherSignature}`),
        status: 401,
      },
      {
        name: "GET /books/{symbol}",
        method: "GET",
        url: books,
        headers: bearer(makerToken),
        status: 200,
        bodyIncludes: '"bids":[{',
      },
      knownOrder,
      // The write path without its workflow: the bus refuses the entry (MalformedDetail), so no rule routes it.
      {
        name: "POST /orders, body not JSON (202, entry refused)",
        method: "POST",
        url: `${api}/orders`,
        headers: { ...bearer(takerToken), "content-type": "application/json" },
        body: "not json",
        status: 202,
        bodyIncludes: '"ErrorCode":"MalformedDetail"',
      },
    ];
    // An IOC bid below the best ask: the whole workflow runs (validate, match, enrich, record), the order is
    // cancelled unfilled, and the book the read routes serve stays as seeded.
    const write: Target = {
      name: "POST /orders (accepted by the bus)",
      method: "POST",
      url: `${api}/orders`,
      headers: { ...bearer(takerToken), "content-type": "application/json" },
      body: JSON.stringify({
        orderId: `${IOC_PREFIX}${UNIQUE}`,
        symbol: SYMBOL,
        side: "BUY",
        type: "LIMIT",
        timeInForce: "IOC",
        price: "49000",
        quantity: "0.1",
      }),
      status: 202,
      bodyIncludes: '"FailedEntryCount":0',
    };

    const run = (phase: Phase): Promise<PhaseResult> =>
      new Promise((resolve, reject) => {
        clientThread.once("error", reject);
        clientThread.once("message", (message: unknown) => {
          clientThread.off("error", reject);
          resolve(PhaseResult.parse(message));
        });
        clientThread.postMessage(phase);
      });

    const measured = (target: Target, clients: number): Measured => ({
      target: target.name,
      clients,
      latenciesMs: [],
      failures: 0,
      seconds: 0,
      cpu: noCpu(),
      functionMs: [],
      loopBusySeconds: 0,
    });

    /** One measured slice, added to `into`. */
    async function slice(into: Measured, target: Target, seconds: number, maxRequests: number): Promise<PhaseResult> {
      invocations.reset();
      const before = cpuSoFar();
      const loop = performance.eventLoopUtilization();
      const result = await run({ target, clients: into.clients, seconds, maxRequests });
      into.loopBusySeconds += performance.eventLoopUtilization(loop).utilization * result.seconds;
      into.cpu = cpuSum(into.cpu, cpuSum(cpuSoFar(), before, -1));
      into.latenciesMs.push(...result.latenciesMs);
      into.failures += result.failures;
      if (result.firstFailure !== undefined) into.firstFailure ??= result.firstFailure;
      into.seconds += result.seconds;
      into.functionMs.push(...(invocations.byFunction.get("QueryFunction") ?? []));
      return result;
    }

    // ------------------------------------------------------------ the levels
    const largest = Math.max(...LEVELS);
    const jvmWarmup = await run({ target: knownOrder, clients: largest, seconds: JVM_WARMUP, maxRequests: UNLIMITED });
    process.stderr.write(`DynamoDB Local warm-up: ${jvmWarmup.latenciesMs.length} requests at ${largest} clients\n`);
    const rows: Row[] = [];
    const backlog = [];
    for (const clients of LEVELS) {
      const results = steady.map((target) => ({ target, into: measured(target, clients) }));
      for (const target of steady) await run({ target, clients, seconds: WARMUP, maxRequests: UNLIMITED });
      for (let round = 0; round < ROUNDS; round++)
        for (const { target, into } of results) await slice(into, target, SECONDS / ROUNDS, UNLIMITED);

      // POST /orders: each starts a workflow. Warm-up, drain, the phase, drain again.
      const warmup = await run({ target: write, clients, seconds: WARMUP, maxRequests: Math.ceil(ORDERS / 10) });
      await stack.idle();
      statuses.clear();
      const posts = measured(write, clients);
      const before = cpuSoFar();
      const phase = await slice(posts, write, SECONDS, ORDERS);
      const endedDuringPhase = ended();
      const drainStarted = performance.now();
      await stack.idle();
      const drainSeconds = (performance.now() - drainStarted) / 1000;
      const total = cpuSum(cpuSoFar(), before, -1);
      const sampleId = `${IOC_PREFIX}${phase.firstUnique}`;
      const sample = await fetch(`${api}/orders/${sampleId}`, { headers: bearer(takerToken) });
      const sampleStatus = sample.ok
        ? z.object({ order: z.object({ status: z.string() }) }).parse(await sample.json()).order.status
        : `HTTP ${sample.status}`;
      backlog.push({
        clients,
        warmupOrders: warmup.latenciesMs.length,
        accepted: posts.latenciesMs.length,
        endedDuringPhase,
        drainSeconds,
        ended: ended(),
        statuses: Object.fromEntries(statuses),
        /** The stack's CPU from the phase's start to the drain's end, per accepted order: an order's whole cost. */
        stackCpuMsPerOrder: STACK.reduce((sum, part) => sum + total[part], 0) / (posts.latenciesMs.length || 1),
        sample: { orderId: sampleId, status: sampleStatus },
      });
      const levelRows = [...results.map((r) => r.into), posts].map(summarize);
      rows.push(...levelRows);
      for (const r of levelRows)
        process.stderr.write(
          `${clients} clients, ${r.target}: ${Math.round(r.perSecond)}/s p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms${r.failures ? `, ${r.failures} failed (${r.firstFailure})` : ""}\n`,
        );
      process.stderr.write(`${clients} clients: POST /orders backlog drained in ${drainSeconds.toFixed(1)} s\n`);
    }

    // ------------------------------------------------------------ report
    const baselineOf = (clients: number) => rows.find((r) => r.clients === clients && r.target === BASELINE);
    const f = (value: number | undefined, digits = 2) =>
      value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : "–";
    const times = (value: number, base: number | undefined) => (base ? `${(value / base).toFixed(1)}×` : "–");
    const lines: string[] = [];
    const out = (line = "") => lines.push(line);
    out("\n### Trading API: closed loop, keep-alive, one request per client in flight\n");
    const ratioColumns = ["p50 ×baseline", "stack CPU ms/request", "×baseline", "failed"];
    lines.push(
      ...measure.markdownTable(
        ["route", "clients", "requests/s", "p50 ms", "p99 ms", ...ratioColumns],
        rows.map((r) => {
          const base = baselineOf(r.clients);
          return [
            r.target,
            r.clients,
            Math.round(r.perSecond).toLocaleString("en"),
            f(r.p50Ms),
            f(r.p99Ms),
            times(r.p50Ms, base?.p50Ms),
            f(r.stackCpuMsPerRequest, 3),
            times(r.stackCpuMsPerRequest, base?.stackCpuMsPerRequest),
            r.failures,
          ];
        }),
      ),
    );
    out("\n### CPU ms per request by thread and process; the Query function's wall time; the main thread's load\n");
    lines.push(
      ...measure.markdownTable(
        ["route", "clients", ...SHOWN, "Query p50 ms", "main thread busy", "other processes"],
        rows.map((r) => [
          r.target,
          r.clients,
          ...SHOWN.map((a) => f(r.cpuMsPerRequest[a], 3)),
          f(r.functionP50Ms),
          `${Math.round(r.mainThreadLoopUse * 100)} %`,
          `${f(r.otherCores)} cores`,
        ]),
      ),
    );
    out("\n### POST /orders: what the pipeline did with the accepted orders\n");
    lines.push(
      ...measure.markdownTable(
        [
          "clients",
          "accepted (202)",
          "executions ended during the phase",
          "drain s",
          "ended after the drain",
          "statuses",
          "stack CPU ms per order (phase + drain)",
          "an order read back",
        ],
        backlog.map((b) => [
          b.clients,
          b.accepted,
          b.endedDuringPhase,
          f(b.drainSeconds, 1),
          b.ended,
          Object.entries(b.statuses)
            .map(([s, n]) => `${s} ${n}`)
            .join(", "),
          f(b.stackCpuMsPerOrder, 1),
          b.sample.status,
        ]),
      ),
    );
    out(
      `\nStack up in ${bootSeconds.toFixed(1)} s; book: ${seeded}. ${SECONDS} s per target and level in ${ROUNDS} rounds after ${WARMUP} s of warm-up; DynamoDB Local warm-up ${jvmWarmup.latenciesMs.length} requests; at most ${ORDERS} orders per level.`,
    );
    process.stdout.write(`${lines.join("\n")}\n`);

    mkdirSync("bench/results", { recursive: true });
    const options = { levels: LEVELS, seconds: SECONDS, rounds: ROUNDS, warmup: WARMUP, jvmWarmup: JVM_WARMUP };
    writeFileSync(
      "bench/results/api.json",
      JSON.stringify(
        {
          ...measure.runInfo(),
          options: { ...options, orders: ORDERS, resting: RESTING },
          bootSeconds,
          rows,
          backlog,
        },
        null,
        2,
      ),
    );
  } finally {
    await clientThread.terminate();
    await stack.stop();
  }
}

if (isMainThread) await main();
else {
  const agent = new Agent({ keepAlive: true });
  // "<pid>/task/<tid>": the thread's own id, for the main thread's CPU accounting.
  parentPort?.postMessage({ tid: readlinkSync("/proc/thread-self").split("/").pop() });
  parentPort?.on("message", (message: unknown) => {
    void drive(agent, Phase.parse(message)).then((result) => parentPort?.postMessage(result));
  });
}
