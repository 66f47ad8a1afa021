// npm run bench:pipeline [-- --quick] [-- --levels 1,8,32,128 --seconds 20 --warmup 45 --seed 1]
// The whole local pipeline on one machine: PutEvents through the gateway (the SDK, at most ten entries a call),
// the bus and its rule, the workflow on aws-local-stepfunctions, the functions in their worker threads, and
// redis-server, DynamoDB Local and moto behind them. The stack is started once, with its own servers; after a
// warm-up (cold starts excluded) every concurrency level runs in turn as a closed loop: each client puts its next
// event when the previous one has been recorded (its execution has ended, after Record), correlated by EventId
// (the execution input's `id`). The events are the seeded scenario stream (orders, cancels, venue trades and a
// few invalid events) in order. Reports executions/s, p50/p99 from put to record, each state's p50/p99 from the
// execution traces, where the latency goes (gateway and bus, functions, interpreter) and the CPU of every
// process and of the node process's threads. Results: stdout (markdown) and bench/results/pipeline.json.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { FunctionUsage } from "../local/lambda/host";
import { startLocalStack } from "../local/stack";
import type { Execution } from "../local/stepfunctions/workflow";
import { buildScenario, type ScenarioEvent, type ScenarioKind } from "../scripts/scenario";
import * as measure from "./measure";

const { values } = parseArgs({
  options: {
    ...measure.loadOptions,
    seed: { type: "string", default: "1" },
    warmup: { type: "string" },
  },
});
const QUICK = values.quick;
const LEVELS = (values.levels ?? (QUICK ? "1,32" : "1,8,32,128")).split(",").map(Number);
const SECONDS = Number(values.seconds ?? (QUICK ? 5 : 20));
// Long enough for DynamoDB Local's JIT as well: on a fresh JVM its CPU per request is about 2.5× the steady one,
// and it takes about 15,000 requests (a minute or so of pipeline load) to settle.
const WARMUP_SECONDS = Number(values.warmup ?? (QUICK ? 5 : 45));
const SEED = Number(values.seed);
const PUT_BATCH = 10; // PutEvents' own limit
const CHUNK_ORDERS = 20_000; // one scenario chunk: about 25,000 events, 1.75 h of scenario time
if (LEVELS.some((n) => !Number.isInteger(n) || n < 1) || !(SECONDS > 0) || !Number.isInteger(SEED))
  throw new Error("--levels takes positive integers (1,8,32), --seconds a positive number, --seed an integer");

const TASKS = ["Validate", "Match", "Enrich", "Record", "RecordRejection"] as const;
const STATES = ["ProcessEvent", ...TASKS] as const;

function stats(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / (sorted.length || 1);
  return { n: sorted.length, mean, p50: measure.percentile(sorted, 50), p99: measure.percentile(sorted, 99) };
}
type Stats = ReturnType<typeof stats>;

const ms = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const pct = (x: number) => `${Math.round(x * 100)} %`;

// ---------------------------------------------------------------- CPU per process and per thread (Linux /proc)

const PROCESS_LABELS: Record<string, string> = {
  "redis-server": "redis-server",
  java: "DynamoDB Local (java)",
  moto_server: "moto (python)",
  python: "moto (python)",
  python3: "moto (python)",
};

const MACHINE = "machine (all processes)";
let baselineThreads = new Set<string>();

/** CPU seconds so far, by process (the servers this process started) and by thread group of this process. */
function cpuSnapshot(): Map<string, number> {
  const out = new Map<string, number>();
  const add = (label: string, s: number) => out.set(label, (out.get(label) ?? 0) + s);
  add(MACHINE, measure.machineBusyMs() / 1000);
  if (!existsSync("/proc/self/task")) {
    const u = process.cpuUsage();
    add("node (all threads)", (u.user + u.system) / 1e6);
    return out;
  }
  for (const [tid, ms] of measure.threadCpuMs()) {
    const label =
      Number(tid) === process.pid
        ? "node main thread"
        : baselineThreads.has(tid)
          ? "node other threads (GC, libuv)"
          : "node function workers";
    add(label, ms / 1000);
  }
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const p = measure.procStat(`/proc/${pid}/stat`);
    if (p?.ppid === process.pid) add(PROCESS_LABELS[p.comm] ?? p.comm, p.cpuMs / 1000);
  }
  return out;
}

function cpuDelta(before: Map<string, number>, after: Map<string, number>, wallSeconds: number) {
  const cores: Record<string, number> = {};
  for (const [label, s] of after) cores[label] = (s - (before.get(label) ?? 0)) / wallSeconds;
  const machine = cores[MACHINE] ?? Number.NaN;
  delete cores[MACHINE];
  const ours = Object.values(cores).reduce((sum, x) => sum + x, 0);
  return { cores, ours, others: Math.max(0, machine - ours) };
}

// ---------------------------------------------------------------- the stack and its instrumentation

const bootStarted = performance.now();
const stack = await startLocalStack({ stage: "bench", retainExecutions: 64 });
const bootSeconds = (performance.now() - bootStarted) / 1000;
baselineThreads = existsSync("/proc/self/task") ? new Set(readdirSync("/proc/self/task")) : new Set();
// The SDK's standard retries, as a producer would have them: at 128 in flight a reused keep-alive connection
// occasionally meets a reset (ECONNRESET) from the gateway. Retries are counted.
const eventBridge = new EventBridgeClient({ endpoint: stack.endpoint, region: stack.region });

// What the Task states spend in the functions (queueing in the worker included), as against the interpreter
// around them.
const host = stack.functions;
const invocations = measure.timeInvocations(host);

// Completion: the execution whose input's `id` is the EventId. Executions can end before the put returns.
const ID = /^\{"version":"0","id":"([^"]+)"/;
const waiting = new Map<string, (execution: Execution, at: number) => void>();
const endedEarly = new Map<string, { execution: Execution; at: number }>();
stack.machine.onExecutionEnd((execution) => {
  const at = performance.now();
  const id = ID.exec(execution.input)?.[1];
  if (!id) return;
  const wake = waiting.get(id);
  if (wake) {
    waiting.delete(id);
    wake(execution, at);
  } else endedEarly.set(id, { execution, at });
});

const RECORD_TIMEOUT_MS = 120_000;

/** The execution of an accepted event, once it has ended; rejects if none ends within two minutes. */
function recorded(id: string): Promise<{ execution: Execution; at: number }> {
  const early = endedEarly.get(id);
  if (early) {
    endedEarly.delete(id);
    return Promise.resolve(early);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error(`event ${id}: no execution ended within ${RECORD_TIMEOUT_MS / 1000} s`));
    }, RECORD_TIMEOUT_MS);
    waiting.set(id, (execution, at) => {
      clearTimeout(timer);
      resolve({ execution, at });
    });
  });
}

/** Puts entries as they come, at most ten per PutEvents call: whatever the clients hand over in one turn. */
class Putter {
  private queue: { entry: PutEventsRequestEntry; resolve: (id: string) => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  calls = 0;
  retries = 0;

  put(entry: PutEventsRequestEntry): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, PUT_BATCH);
      this.calls += 1;
      eventBridge.send(new PutEventsCommand({ Entries: batch.map((b) => b.entry) })).then(
        (out) => {
          this.retries += (out.$metadata.attempts ?? 1) - 1;
          batch.forEach((b, i) => {
            const result = out.Entries?.[i];
            if (result?.EventId) b.resolve(result.EventId);
            else b.reject(new Error(`PutEvents refused an entry: ${result?.ErrorCode} ${result?.ErrorMessage}`));
          });
        },
        (err: unknown) => {
          for (const b of batch) b.reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }
  }
}
const putter = new Putter();

// ---------------------------------------------------------------- the event stream

const stream: ScenarioEvent[] = [];
let cursor = 0;
let chunks = 0;
function extend(events: number): void {
  while (stream.length - cursor < events) {
    stream.push(...buildScenario({ seed: SEED * 1000 + chunks, orders: CHUNK_ORDERS, busName: stack.bus.name }));
    chunks += 1;
  }
}
function nextEvent(): ScenarioEvent {
  extend(1);
  const event = stream[cursor++];
  if (!event) throw new Error("the scenario stream ran dry");
  return event;
}

// ---------------------------------------------------------------- one closed-loop run

interface Sample {
  kind: ScenarioKind;
  latency: number;
  put: number;
  /** Put → execution start: the gateway, PutEvents, the bus and its rule (epoch ms, so 1 ms resolution). */
  toStart: number;
  execution: number;
  /** The Task states on the critical path: max(Validate + Match, Enrich) + Record or RecordRejection. */
  tasks: number;
  status: string;
  states: Map<string, number>;
}

async function run(clients: number, seconds: number) {
  const samples: Sample[] = [];
  const failures: string[] = [];
  invocations.reset();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let lastEnd = started;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const event = nextEvent();
        const t0 = performance.now();
        let putDone: number;
        let ended: { execution: Execution; at: number };
        try {
          const id = await putter.put(event.entry);
          putDone = performance.now();
          ended = await recorded(id);
        } catch (err) {
          failures.push(String(err));
          continue;
        }
        const { execution, at } = ended;
        lastEnd = Math.max(lastEnd, at);
        const states = new Map<string, number>();
        for (const t of execution.trace) states.set(t.state, (states.get(t.state) ?? 0) + t.durationMs);
        const s = (name: string) => states.get(name) ?? 0;
        samples.push({
          kind: event.kind,
          latency: at - t0,
          put: putDone - t0,
          toStart: execution.startDate - (performance.timeOrigin + t0),
          execution: (execution.stopDate ?? execution.startDate) - execution.startDate,
          tasks: Math.max(s("Validate") + s("Match"), s("Enrich")) + s("Record") + s("RecordRejection"),
          status: execution.status,
          states,
        });
      }
    }),
  );
  const wall = (lastEnd - started) / 1000;
  const functions = Object.fromEntries([...invocations.byFunction].map(([name, list]) => [name, stats(list)]));
  return { samples, failures, wall, functions };
}

interface Measured {
  readonly clients: number;
  readonly result: Awaited<ReturnType<typeof run>>;
  readonly cpu: ReturnType<typeof cpuDelta>;
  /** Wall seconds the CPU figures cover. */
  readonly cpuSeconds: number;
  readonly putCalls: number;
  readonly putRetries: number;
  readonly elu: number;
  readonly loopDelayP99Ms: number;
}

function summarize({ clients, result, cpu, cpuSeconds, putCalls, putRetries, elu, loopDelayP99Ms }: Measured) {
  const { samples, wall } = result;
  const byKind: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  for (const s of samples) {
    byKind[s.kind] = (byKind[s.kind] ?? 0) + 1;
    byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  }
  const states: Record<string, Stats> = {};
  for (const name of STATES) {
    const list = samples.flatMap((s) => (s.states.has(name) ? [s.states.get(name) ?? 0] : []));
    if (list.length > 0) states[name] = stats(list);
  }
  const total = samples.reduce((sum, s) => sum + s.latency, 0) || 1;
  const sum = (f: (s: Sample) => number) => samples.reduce((acc, s) => acc + f(s), 0);
  const inside = sum((s) => s.execution);
  const tasks = sum((s) => s.tasks);
  const toStart = sum((s) => Math.max(0, s.toStart));
  // Shares of the summed put-to-record latency: before the execution starts, the Task states on the critical
  // path, the rest of the execution (Parallel, Choice, transitions, the interpreter), and after it ends.
  const latencyShares = {
    gatewayAndBus: toStart / total,
    functionStates: tasks / total,
    interpreter: (inside - tasks) / total,
    endToClient: Math.max(0, total - toStart - inside) / total,
  };
  return {
    clients,
    executions: samples.length,
    seconds: wall,
    perSecond: samples.length / wall,
    putCalls,
    putRetries,
    entriesPerPutCall: (samples.length + result.failures.length) / (putCalls || 1),
    latencyMs: stats(samples.map((s) => s.latency)),
    putMs: stats(samples.map((s) => s.put)),
    putToStartMs: stats(samples.map((s) => s.toStart)),
    executionMs: stats(samples.map((s) => s.execution)),
    criticalPathTaskMs: stats(samples.map((s) => s.tasks)),
    states,
    functionInvokeMs: result.functions,
    latencyShares,
    byKind,
    byStatus,
    failures: result.failures.slice(0, 5),
    failureCount: result.failures.length,
    cpuCores: cpu.cores,
    cpuMsPerExecution: Object.fromEntries(
      Object.entries(cpu.cores).map(([label, cores]) => [label, (cores * cpuSeconds * 1000) / (samples.length || 1)]),
    ),
    cpuCoresTotal: cpu.ours,
    /** CPU other processes on the machine used meanwhile: anything above ~0.1 core skews the figures. */
    cpuCoresOthers: cpu.others,
    /** Inflated when other processes compete for the cores: a runnable thread waiting for one counts as busy. */
    mainThreadEventLoopUtilization: elu,
    mainThreadEventLoopDelayP99Ms: loopDelayP99Ms,
  };
}
type Level = ReturnType<typeof summarize>;

/**
 * Between runs: every execution ended, then up to five seconds for the alerter to drain the alert queue the run
 * filled (it is not on the measured path, but its backlog would load the next level).
 */
async function settle(): Promise<boolean> {
  await stack.bus.idle();
  await stack.machine.idle();
  const drained = Promise.all(stack.eventSources.map((s) => s.idle())).then(() => true);
  return Promise.race([drained, new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
}

// ---------------------------------------------------------------- warm-up, then the levels

extend(CHUNK_ORDERS);
process.stderr.write(`stack up in ${bootSeconds.toFixed(1)} s; warm-up ${WARMUP_SECONDS} s at 32 in flight\n`);
const warm = await run(32, WARMUP_SECONDS);
const warmDrained = await settle();
process.stderr.write(
  `warm-up: ${warm.samples.length} executions, ${warm.failures.length} failures; alert queue drained: ${warmDrained}\n`,
);

const levels: (Level & { usage: Record<string, FunctionUsage>; alertQueueDrainedAfter?: boolean })[] = [];

/** What each function cost during one level. */
function usageSince(before: Record<string, FunctionUsage>, after: Record<string, FunctionUsage>) {
  return Object.fromEntries(
    Object.entries(after).map(([fn, now]) => {
      const then = before[fn] ?? { invocations: 0, cpuMs: 0, requests: {} };
      const requests = Object.fromEntries(
        Object.entries(now.requests).map(([service, n]) => [service, n - (then.requests[service] ?? 0)]),
      );
      return [fn, { invocations: now.invocations - then.invocations, cpuMs: now.cpuMs - then.cpuMs, requests }];
    }),
  );
}
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let expectedRate = warm.samples.length / warm.wall;
for (const clients of LEVELS) {
  extend(Math.ceil(expectedRate * SECONDS * 2) + 1000);
  const callsBefore = putter.calls;
  const retriesBefore = putter.retries;
  const cpuBefore = cpuSnapshot();
  const usageBefore = host.usageSoFar();
  const eluBefore = performance.eventLoopUtilization();
  loopDelay.reset();
  loopDelay.enable();
  const t0 = performance.now();
  const result = await run(clients, SECONDS);
  const wall = (performance.now() - t0) / 1000;
  loopDelay.disable();
  const cpu = cpuDelta(cpuBefore, cpuSnapshot(), wall);
  const elu = performance.eventLoopUtilization(eluBefore).utilization;
  const level = summarize({
    clients,
    result,
    cpu,
    cpuSeconds: wall,
    putCalls: putter.calls - callsBefore,
    putRetries: putter.retries - retriesBefore,
    elu,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  });
  expectedRate = Math.max(expectedRate, level.perSecond);
  process.stderr.write(
    `${clients} in flight: ${Math.round(level.perSecond)}/s p50 ${ms(level.latencyMs.p50)} ms p99 ${ms(level.latencyMs.p99)} ms\n`,
  );
  const usage = usageSince(usageBefore, host.usageSoFar());
  levels.push({ ...level, usage, alertQueueDrainedAfter: await settle() });
}

// ---------------------------------------------------------------- report

const cpuLabels = [
  "node main thread",
  "node function workers",
  "node other threads (GC, libuv)",
  "redis-server",
  "DynamoDB Local (java)",
  "moto (python)",
];
const lines: string[] = [];
const out = (line = "") => lines.push(line);
out("\n### Pipeline: put-event to compliance record (closed loop, one event per client in flight)\n");
lines.push(
  ...measure.markdownTable(
    [
      "in flight",
      "executions/s",
      "p50 ms",
      "p99 ms",
      "PutEvents p50 ms",
      "entries/call",
      "put→start p50 ms",
      "execution p50 ms",
      "failed",
      "other processes' CPU",
    ],
    levels.map((l) => [
      l.clients,
      Math.round(l.perSecond).toLocaleString("en"),
      ms(l.latencyMs.p50),
      ms(l.latencyMs.p99),
      ms(l.putMs.p50),
      ms(l.entriesPerPutCall),
      ms(l.putToStartMs.p50, 0),
      ms(l.executionMs.p50, 0),
      l.failureCount + l.executions - (l.byStatus.SUCCEEDED ?? 0),
      `${l.cpuCoresOthers.toFixed(2)} cores`,
    ]),
  ),
);
/** "mean / p99" or "p50 / p99" of a statistic a level may lack. */
const pair = (s: Stats | undefined, first: "mean" | "p50", digits: number) =>
  s ? `${ms(s[first], digits)} / ${ms(s.p99, digits)}` : "–";
out("\n### Per state (p50 / p99 ms, from the execution traces)\n");
lines.push(
  ...measure.markdownTable(
    ["in flight", ...STATES],
    levels.map((l) => [l.clients, ...STATES.map((s) => pair(l.states[s], "p50", 0))]),
  ),
);
out("\n### Where the latency goes (share of the summed put-to-record time)\n");
lines.push(
  ...measure.markdownTable(
    [
      "in flight",
      "gateway + PutEvents + bus",
      "Task states (critical path)",
      "interpreter (rest of the execution)",
      "after the end",
    ],
    levels.map(({ clients, latencyShares: s }) => [
      clients,
      pct(s.gatewayAndBus),
      pct(s.functionStates),
      pct(s.interpreter),
      pct(s.endToClient),
    ]),
  ),
);
out("\n### CPU by process: cores used (CPU ms per execution)\n");
lines.push(
  ...measure.markdownTable(
    ["in flight", ...cpuLabels, "stack total", "main-thread event loop use"],
    levels.map((l) => {
      const cell = (label: string) => `${(l.cpuCores[label] ?? 0).toFixed(2)} (${ms(l.cpuMsPerExecution[label] ?? 0)})`;
      const total = Object.values(l.cpuMsPerExecution).reduce((sum, x) => sum + x, 0);
      return [
        l.clients,
        ...cpuLabels.map(cell),
        `${l.cpuCoresTotal.toFixed(2)} (${ms(total)})`,
        pct(l.mainThreadEventLoopUtilization),
      ];
    }),
  ),
);
out("\n### Function invocations (wall ms in the host, worker queueing included: mean / p99) against their states\n");
const fnNames = [...new Set(levels.flatMap((l) => Object.keys(l.functionInvokeMs)))].sort();
lines.push(
  ...measure.markdownTable(
    ["in flight", ...fnNames],
    levels.map((l) => [l.clients, ...fnNames.map((f) => pair(l.functionInvokeMs[f], "mean", 1))]),
  ),
);
out("\n### Per execution, by function: its thread CPU (ms) and its AWS requests by service\n");
out("The alerter runs off the alert queue, a batch of ticks per invocation; the rest once per execution they serve.\n");
const services = [
  ...new Set(levels.flatMap((l) => Object.values(l.usage).flatMap((u) => Object.keys(u.requests)))),
].sort();
lines.push(
  ...measure.markdownTable(
    ["in flight", "function", "invocations", "CPU ms", ...services],
    levels.flatMap((l) => {
      const per = (n: number) => (n / (l.executions || 1)).toFixed(2);
      return Object.entries(l.usage)
        .filter(([, u]) => u.invocations > 0)
        .map(([fn, u]) => [
          l.clients,
          fn,
          u.invocations,
          per(u.cpuMs),
          ...services.map((svc) => per(u.requests[svc] ?? 0)),
        ]);
    }),
  ),
);
const mix = levels.at(-1)?.byKind ?? {};
out(
  `\nMix (last level): ${Object.entries(mix)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ")}. Stack up in ${bootSeconds.toFixed(1)} s; warm-up ${warm.samples.length} executions.`,
);
process.stdout.write(`${lines.join("\n")}\n`);

const results = {
  ...measure.runInfo(),
  options: { levels: LEVELS, secondsPerLevel: SECONDS, warmupSeconds: WARMUP_SECONDS, seed: SEED, putBatch: PUT_BATCH },
  bootSeconds,
  warmup: { executions: warm.samples.length, seconds: warm.wall },
  levels,
  busMetrics: stack.bus.metrics,
};
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/pipeline.json", JSON.stringify(results, null, 2));
eventBridge.destroy();
const stopping = performance.now();
await stack.stop();
process.stderr.write(`stack stopped in ${ms((performance.now() - stopping) / 1000)} s\n`);
