// The cost of a million orders, EXPRESS against STANDARD, written to docs/cost-model.md. Everything about the
// deployed shape (memory, timeouts, the states each event walks, GSIs, replicas, log level, batch size, fixed
// resources) is read from template.yaml and the ASL, so the model moves when they do; everything else is a
// stated assumption or a dated us-east-1 list price below. `--check` fails when the committed doc is stale.

import { readFileSync, writeFileSync } from "node:fs";
import { parseRecordInput, planRecord, type RecordPlan } from "@tradeflow/common/recorder";
import { z } from "zod";
import { type AslMachine, AslMachineSchema, type AslState } from "../local/stepfunctions/asl";
import { loadTemplate, TemplateResolver, templateFile } from "../local/template";

interface Price {
  readonly usd: number;
  readonly unit: string;
  readonly source: string;
  /** When the price was seen, and where (a stored copy of the AWS page, or a dated secondary source). */
  readonly seen: string;
}

const PRICES = {
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: "request",
    source: "https://aws.amazon.com/lambda/pricing/",
    seen: "$0.20 per 1M requests; list price, 2024 guide citing the page",
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    unit: "GB-second (Arm, first 7.5B GB-s/month)",
    source: "https://aws.amazon.com/lambda/pricing/",
    seen: "2024 guide citing the page (Arm tier 1)",
  },
  sfnStandardTransition: {
    usd: 0.025 / 1000,
    unit: "state transition",
    source: "https://aws.amazon.com/step-functions/pricing/",
    seen: "$25 per 1M transitions; 2026-03 guide citing the page",
  },
  sfnExpressRequest: {
    usd: 1.0 / 1e6,
    unit: "Express execution",
    source: "https://aws.amazon.com/step-functions/pricing/",
    seen: "$1.00 per 1M requests; 2026-03 guide citing the page",
  },
  sfnExpressGbSecond: {
    usd: 0.00001667,
    unit: "GB-second (Express, first 1,000 GB-hours)",
    source: "https://aws.amazon.com/step-functions/pricing/",
    seen: "2026-03 guide citing the page",
  },
  dynamoWru: {
    usd: 0.625 / 1e6,
    unit: "write request unit (on-demand)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    seen: "2025-07 guide citing the page (after the 2024-11 price cut)",
  },
  dynamoRwru: {
    usd: 0.625 / 1e6,
    unit: "replicated write request unit (on-demand global table)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    seen: "equal to a WRU since the 2024-11 global tables cut (up to 67%); 2025-07 guide",
  },
  dynamoRru: {
    usd: 0.125 / 1e6,
    unit: "read request unit (on-demand)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    seen: "2025-07 guide citing the page",
  },
  eventBridgeEvent: {
    usd: 1.0 / 1e6,
    unit: "custom event published (64 KB)",
    source: "https://aws.amazon.com/eventbridge/pricing/",
    seen: "2026-03 guide citing the page",
  },
  sqsRequest: {
    usd: 0.4 / 1e6,
    unit: "standard queue request (64 KB)",
    source: "https://aws.amazon.com/sqs/pricing/",
    seen: "list price, not re-verified here",
  },
  snsPublish: {
    usd: 0.5 / 1e6,
    unit: "publish (64 KB)",
    source: "https://aws.amazon.com/sns/pricing/",
    seen: "list price, not re-verified here",
  },
  logsIngestGb: {
    usd: 0.5,
    unit: "GB ingested (Standard class; vended logs' first tier is the same)",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    seen: "guide citing the page, us-east-1",
  },
  xrayTrace: {
    usd: 5.0 / 1e6,
    unit: "trace recorded (after 100k free per month)",
    source: "https://aws.amazon.com/xray/pricing/",
    seen: "stored copy of the AWS page ($0.000005 per trace)",
  },
  interfaceEndpointHour: {
    usd: 0.01,
    unit: "interface endpoint, per AZ-hour",
    source: "https://aws.amazon.com/privatelink/pricing/",
    seen: "list price, not re-verified here",
  },
  cacheNodeHour: {
    usd: 0.0128,
    unit: "cache.t4g.micro Valkey node-hour (Redis OSS $0.016 less 20%)",
    source: "https://aws.amazon.com/elasticache/pricing/",
    seen: "list price, not re-verified here",
  },
  kmsKeyMonth: {
    usd: 1.0,
    unit: "customer managed key, per month",
    source: "https://aws.amazon.com/kms/pricing/",
    seen: "list price",
  },
  secretMonth: {
    usd: 0.4,
    unit: "secret, per month",
    source: "https://aws.amazon.com/secrets-manager/pricing/",
    seen: "list price",
  },
  alarmMetricMonth: {
    usd: 0.1,
    unit: "standard-resolution alarm metric, per month",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    seen: "list price",
  },
  dashboardMonth: {
    usd: 3.0,
    unit: "dashboard, per month",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    seen: "list price",
  },
} as const satisfies Record<string, Price>;

/** The workload and behaviour the template cannot tell: each one a stated assumption. */
const ASSUMPTIONS = {
  cancelsPerOrder: { value: 0.25, text: "Order Cancel Requested events per order submitted" },
  fillsPerOrder: { value: 0.6, text: "trades the matcher executes per order (each one a price tick)" },
  venueTradesPerOrder: { value: 0.5, text: "Trade Reported events from the three venues per order" },
  rejectedShare: { value: 0.02, text: "share of order events the validator rejects (ValidationRejected)" },
  coldStartShare: { value: 0.005, text: "invocations that start a new execution environment" },
  runtimeStartMs: { value: 150, text: "billed INIT before a function's code loads: the runtime's own start (ms)" },
  lambdaCpuFactor: {
    value: 5,
    text: "Lambda's CPU share against the benchmark machine's core: INIT code load = measured import × this",
  },
  alerterBatchFill: { value: 10, text: "ticks per alerter invocation on average (BatchSize caps it)" },
  stateOverheadMs: { value: 10, text: "Step Functions time per state besides the task itself (ms)" },
  expressMemoryMb: { value: 64, text: "Express billed memory: one 64 MB chunk (small definition and payloads)" },
  workflowLogEventBytes: { value: 1000, text: "bytes per execution-log event with IncludeExecutionData (Level ALL)" },
  lambdaLogBytes: {
    value: 900,
    text: "log bytes per invocation: START/END/REPORT, one Powertools line, one EMF metric line",
  },
  xraySampled: { value: 0.05, text: "traces recorded (default rule above its 1 request/s reservoir)" },
  alertShare: { value: 0.01, text: "ticks that cross a threshold and publish an SNS alert" },
} as const;

const a = (key: keyof typeof ASSUMPTIONS) => ASSUMPTIONS[key].value;

/** Warm handler durations (ms), assumed: each is one cached config read plus one or two round trips. */
const DURATION_MS: Record<string, number> = {
  ValidatorFunction: 35,
  EnricherFunction: 45,
  MatcherFunction: 20,
  RecorderFunction: 70,
  AlerterFunction: 150,
};

// ---------------------------------------------------------------- what the recorder writes, from its own plans

/** One recorded thing: its conditional PutItems, the WRUs they bill and the GSI entries they write. */
interface Writes {
  readonly text: string;
  readonly calls: number;
  readonly wru: number;
  readonly indexWru: number;
}

const GSI_KEYS = ["gsi1pk", "gsi2pk"];
const kb = (item: Record<string, unknown>) => Math.ceil(Buffer.byteLength(JSON.stringify(item)) / 1024);

function writesOf(text: string, items: readonly Record<string, unknown>[], share = 1): Writes {
  return {
    text,
    calls: items.length / share,
    wru: items.reduce((n, i) => n + kb(i), 0) / share,
    indexWru: items.reduce((n, i) => n + GSI_KEYS.filter((k) => k in i).length * kb(i), 0) / share,
  };
}

const samplePlan = (file: string): RecordPlan =>
  planRecord(parseRecordInput(JSON.parse(readFileSync(templateFile(`events/recorder/${file}`), "utf8"))));
const itemsOf = (plan: RecordPlan, about: (orderId: unknown) => boolean) =>
  [...(plan.receipt ? [plan.receipt] : []), ...plan.facts, ...plan.states]
    .map((w) => w.item)
    .filter((i) => about(i.orderId));
const matched = samplePlan("record-matched-order.json");
const makers = new Set(matched.states.slice(1).map((s) => s.state.orderId));
const all = () => true;

/** Sample Record inputs in events/recorder, planned by the recorder: the model moves when its writes do. */
const RECORDED = {
  orderEvent: writesOf(
    "accepted order event: the order's new version and its state (events/recorder/record-matched-order.json)",
    itemsOf(matched, (id) => !makers.has(String(id))),
  ),
  rejectedOrderEvent: writesOf(
    "rejected event: its rejection (record-rejection.json)",
    itemsOf(samplePlan("record-rejection.json"), all),
  ),
  venueTrade: writesOf(
    "venue trade: its receipt and the trade (record-venue-trade.json)",
    itemsOf(samplePlan("record-venue-trade.json"), all),
  ),
  fill: writesOf(
    "fill: the maker's new version and its state (record-matched-order.json, per maker)",
    itemsOf(matched, (id) => makers.has(String(id))),
    makers.size,
  ),
} as const;

// ---------------------------------------------------------------- what the template says

const template = loadTemplate();
const resolver = new TemplateResolver(template, { region: "us-east-1" });
const globals = template.Globals.Function;

const FunctionConfig = z.object({
  MemorySize: z.coerce.number(),
  Timeout: z.coerce.number(),
  PackageType: z.string().default("Zip"),
});
const functions = Object.fromEntries(
  resolver.resourcesOfType("AWS::Serverless::Function").map(([id, r]) => [
    id,
    FunctionConfig.parse({
      MemorySize: r.Properties.MemorySize ?? globals.MemorySize,
      Timeout: r.Properties.Timeout ?? globals.Timeout,
      PackageType: r.Properties.PackageType,
    }),
  ]),
);
const fn = (id: string) => {
  const config = functions[id];
  if (!config) throw new Error(`template.yaml has no function ${id}`);
  return config;
};

const [[, machine] = []] = resolver.resourcesOfType("AWS::Serverless::StateMachine");
const machineProps = z
  .object({
    DefinitionUri: z.string(),
    DefinitionSubstitutions: z.record(z.string(), z.unknown()),
    Logging: z.object({ Level: z.unknown(), IncludeExecutionData: z.boolean() }),
  })
  .parse(machine?.Properties);
const workflowLogLevel = resolver.resolveString(machineProps.Logging.Level);
/** Which function each ${...} substitution names. */
const substitutedFunction = Object.fromEntries(
  Object.entries(machineProps.DefinitionSubstitutions).flatMap(([name, value]) => {
    const getAtt = z.object({ "Fn::GetAtt": z.tuple([z.string(), z.literal("Arn")]) }).safeParse(value);
    return getAtt.success ? [[`\${${name}}`, getAtt.data["Fn::GetAtt"][0]]] : [];
  }),
);

const compliance = template.Resources.ComplianceTable?.Properties ?? {};
const gsiCount = z.array(z.unknown()).parse(compliance.GlobalSecondaryIndexes ?? []).length;
const replicaRegions = z.array(z.unknown()).parse(resolver.resolve(compliance.Replicas)).length - 1;

const alerterQueue = z
  .object({
    Events: z.record(z.string(), z.object({ Type: z.string(), Properties: z.record(z.string(), z.unknown()) })),
  })
  .parse(template.Resources.AlerterFunction?.Properties);
const batchSize = Number(Object.values(alerterQueue.Events).find((e) => e.Type === "SQS")?.Properties.BatchSize);

// ---------------------------------------------------------------- the states an event walks, from the ASL

interface Walk {
  transitions: number;
  tasks: string[];
  criticalMs: number;
  error?: string;
}

type Machine = AslMachine;

const definition = AslMachineSchema.parse(JSON.parse(readFileSync(templateFile(machineProps.DefinitionUri), "utf8")));

/** Follows the ASL for one kind of event: orders take IsOrder's first branch; a rejection fails Validate. */
function walk(m: Machine, event: { isOrder: boolean; rejected: boolean }): Walk {
  const out: Walk = { transitions: 0, tasks: [], criticalMs: 0 };
  let name: string | undefined = m.StartAt;
  while (name) {
    const state: AslState | undefined = m.States[name];
    if (!state) throw new Error(`the ASL has no state ${name}`);
    out.transitions += 1;
    out.criticalMs += a("stateOverheadMs");
    let next: string | undefined = state.End ? undefined : state.Next;
    if (state.Type === "Task") {
      const id = substitutedFunction[state.Resource ?? ""];
      if (id) {
        out.tasks.push(id);
        out.criticalMs += DURATION_MS[id] ?? 0;
        if (id === "ValidatorFunction" && event.rejected) return { ...out, error: "ValidationRejected" };
      }
    } else if (state.Type === "Choice") {
      // IsOrder tells orders from trades; any other Choice checks the input, and a well-formed event passes its rule.
      next = name !== "IsOrder" || event.isOrder ? state.Choices?.[0]?.Next : state.Default;
    } else if (state.Type === "Parallel") {
      const branches = (state.Branches ?? []).map((b) => walk(b, event));
      out.transitions += branches.reduce((n, b) => n + b.transitions, 0);
      out.tasks.push(...branches.flatMap((b) => b.tasks));
      out.criticalMs += Math.max(...branches.map((b) => b.criticalMs));
      const error = branches.find((b) => b.error)?.error;
      if (error) {
        next = state.Catch?.find((c) => c.ErrorEquals.includes(error) || c.ErrorEquals.includes("States.ALL"))?.Next;
      }
    }
    name = next;
  }
  return out;
}

// ---------------------------------------------------------------- per million orders

const ORDERS = 1_000_000;
const orderEvents = ORDERS * (1 + a("cancelsPerOrder"));
const paths = [
  {
    name: "order event, accepted",
    count: orderEvents * (1 - a("rejectedShare")),
    walk: walk(definition, { isOrder: true, rejected: false }),
  },
  {
    name: "order event, rejected",
    count: orderEvents * a("rejectedShare"),
    walk: walk(definition, { isOrder: true, rejected: true }),
  },
  {
    name: "venue trade report",
    count: ORDERS * a("venueTradesPerOrder"),
    walk: walk(definition, { isOrder: false, rejected: false }),
  },
];
const executions = paths.reduce((n, p) => n + p.count, 0);
const fills = ORDERS * a("fillsPerOrder");
const ticks = fills + ORDERS * a("venueTradesPerOrder");
const alerterInvocations = ticks / Math.min(a("alerterBatchFill"), batchSize);

/** The median import of the function's bundle from npm run bench:coldstart (bench/coldstart-init.json). */
function measuredImportMs(id: string): number {
  const measured = z
    .object({ importMs: z.record(z.string(), z.number()) })
    .parse(JSON.parse(readFileSync("bench/coldstart-init.json", "utf8")));
  const ms = measured.importMs[id];
  if (ms === undefined)
    throw new Error(`bench/coldstart-init.json has no import time for ${id}: run npm run bench:coldstart`);
  return ms;
}

function lambdaCost(id: string, invocations: number): number {
  const config = fn(id);
  const gb = config.MemorySize / 1024;
  const initMs = a("runtimeStartMs") + a("lambdaCpuFactor") * measuredImportMs(id);
  const ms = (DURATION_MS[id] ?? 0) + a("coldStartShare") * initMs;
  return invocations * (PRICES.lambdaRequest.usd + (gb * ms * PRICES.lambdaArmGbSecond.usd) / 1000);
}

const invocations: Record<string, number> = { AlerterFunction: alerterInvocations };
for (const p of paths) for (const id of p.walk.tasks) invocations[id] = (invocations[id] ?? 0) + p.count;
const lambdaInvocations = Object.values(invocations).reduce((n, v) => n + v, 0);

const rows = (() => {
  const recorded = [
    [paths[0]?.count ?? 0, RECORDED.orderEvent],
    [paths[1]?.count ?? 0, RECORDED.rejectedOrderEvent],
    [paths[2]?.count ?? 0, RECORDED.venueTrade],
    [fills, RECORDED.fill],
  ] as const;
  const sum = (f: (w: Writes) => number) => recorded.reduce((n, [count, w]) => n + count * f(w), 0);
  // Plain PutItems bill their size in WRUs; each GSI an item is in costs as much again, in every region.
  const written = sum((w) => w.wru);
  const wru = written + sum((w) => w.indexWru) * (1 + replicaRegions) + ticks; // + the alerter's state put
  const rwru = written * replicaRegions;
  const rru = ticks; // the alerter's consistent state read; the validator reads no table
  const dynamoCalls = sum((w) => w.calls);
  const workflowLogEvents =
    workflowLogLevel === "ALL" ? paths.reduce((n, p) => n + p.count * (2 * p.walk.transitions + 2), 0) : 0;
  const lambdaLogGb = (lambdaInvocations * a("lambdaLogBytes")) / 1e9;
  const workflowLogGb = (workflowLogEvents * a("workflowLogEventBytes")) / 1e9;
  const domainEvents = paths.reduce((n, p) => n + p.count, 0) + fills;
  const common: [string, number][] = [
    [
      "Lambda: requests and GB-seconds",
      Object.entries(invocations).reduce((n, [id, count]) => n + lambdaCost(id, count), 0),
    ],
    ["DynamoDB: WRU (incl. GSIs in every region)", wru * PRICES.dynamoWru.usd],
    ["DynamoDB: replicated WRU", rwru * PRICES.dynamoRwru.usd],
    ["DynamoDB: RRU", rru * PRICES.dynamoRru.usd],
    ["EventBridge: source events + recorder domain events", (executions + domainEvents) * PRICES.eventBridgeEvent.usd],
    ["SQS: ticks sent, received and deleted", (ticks + 2 * alerterInvocations) * PRICES.sqsRequest.usd],
    ["SNS: alerts", ticks * a("alertShare") * PRICES.snsPublish.usd],
    ["CloudWatch Logs: functions", lambdaLogGb * PRICES.logsIngestGb.usd],
    [`CloudWatch Logs: workflow (Level ${workflowLogLevel})`, workflowLogGb * PRICES.logsIngestGb.usd],
    ["X-Ray: traces recorded", (executions + alerterInvocations) * a("xraySampled") * PRICES.xrayTrace.usd],
  ];
  const expressGbSeconds = paths.reduce(
    (n, p) => n + p.count * (Math.ceil(p.walk.criticalMs / 100) / 10) * (a("expressMemoryMb") / 1024),
    0,
  );
  const transitions = paths.reduce((n, p) => n + p.count * p.walk.transitions, 0);
  return {
    common,
    express: [
      ["Step Functions Express: executions", executions * PRICES.sfnExpressRequest.usd],
      ["Step Functions Express: duration (GB-s)", expressGbSeconds * PRICES.sfnExpressGbSecond.usd],
    ] as [string, number][],
    standard: [["Step Functions Standard: state transitions", transitions * PRICES.sfnStandardTransition.usd]] as [
      string,
      number,
    ][],
    stats: { wru, rwru, rru, dynamoCalls, transitions, expressGbSeconds, workflowLogGb, lambdaLogGb },
  };
})();

const total = (lines: [string, number][]) => lines.reduce((n, [, v]) => n + v, 0);
const expressTotal = total([...rows.common, ...rows.express]);
const standardTotal = total([...rows.common, ...rows.standard]);

// ---------------------------------------------------------------- fixed monthly cost (not per order)

const HOURS_PER_MONTH = 730;
const cache = template.Resources.Cache?.Properties ?? {};
const cacheNodes = Number(resolver.resolve(cache.NumCacheClusters ?? 2));
const interfaceEndpoints = resolver
  .resourcesOfType("AWS::EC2::VPCEndpoint")
  .filter(([, r]) => r.Properties.VpcEndpointType === "Interface").length;
const subnets = 2;
const alarmMetrics = resolver
  .resourcesOfType("AWS::CloudWatch::Alarm")
  .reduce(
    (n, [, r]) =>
      n + (Array.isArray(r.Properties.Metrics) ? r.Properties.Metrics.filter((m) => !("Expression" in m)).length : 1),
    0,
  );
const fixed: [string, number][] = [
  [
    `ElastiCache: ${cacheNodes} x ${resolver.resolveString(cache.CacheNodeType)}`,
    cacheNodes * HOURS_PER_MONTH * PRICES.cacheNodeHour.usd,
  ],
  [
    `VPC interface endpoints: ${interfaceEndpoints} x ${subnets} AZs`,
    interfaceEndpoints * subnets * HOURS_PER_MONTH * PRICES.interfaceEndpointHour.usd,
  ],
  [`CloudWatch alarms: ${alarmMetrics} metrics`, alarmMetrics * PRICES.alarmMetricMonth.usd],
  ["CloudWatch dashboard", PRICES.dashboardMonth.usd],
  ["KMS key", PRICES.kmsKeyMonth.usd],
  ["Secrets Manager secret", PRICES.secretMonth.usd],
];

// ---------------------------------------------------------------- the document

const usd = (v: number) => (v >= 100 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`);
const count = (v: number) => Math.round(v).toLocaleString("en-US");
const table = (head: string[], body: (string | number)[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...body.map((r) => `| ${r.join(" | ")} |`)].join(
    "\n",
  );

const worstCaseGbSeconds = Object.entries(invocations).reduce(
  (n, [id, c]) => n + (c * fn(id).MemorySize * fn(id).Timeout) / 1024,
  0,
);

const doc = `# Cost model: one million orders

Generated by \`npm run cost-model\` (scripts/cost-model.ts) from template.yaml and ${machineProps.DefinitionUri};
do not edit by hand. us-east-1 list prices, before free tiers and savings plans.

| per 1,000,000 orders | EXPRESS (default) | STANDARD |
|---|---|---|
| total | **${usd(expressTotal)}** | **${usd(standardTotal)}** |
| of which Step Functions | ${usd(total(rows.express))} | ${usd(total(rows.standard))} |

STANDARD bills every state transition (${count(rows.stats.transitions)} here), EXPRESS bills executions and
their duration; the rest of the bill is the same for both. Add the fixed monthly cost below.

## Breakdown

${table(
  ["item", "EXPRESS", "STANDARD"],
  [
    ...rows.common.map(([k, v]) => [k, usd(v), usd(v)]),
    ...rows.express.map(([k, v]) => [k, usd(v), "-"]),
    ...rows.standard.map(([k, v]) => [k, "-", usd(v)]),
  ],
)}

## What each event does (from the ASL and the template)

${table(
  ["event", "per 1M orders", "states entered", "Lambda tasks", "critical path (ms)"],
  paths.map((p) => [p.name, count(p.count), p.walk.transitions, p.walk.tasks.join(", "), p.walk.criticalMs]),
)}

Plus ${count(ticks)} price ticks through AlertQueue, read by ${count(alerterInvocations)} alerter invocations.

${table(
  ["function", "package", "memory (MB)", "timeout (s)", "invocations", "assumed warm ms"],
  Object.entries(invocations).map(([id, c]) => [
    id,
    fn(id).PackageType,
    fn(id).MemorySize,
    fn(id).Timeout,
    count(c),
    DURATION_MS[id] ?? 0,
  ]),
)}

Upper bound if every invocation ran to its timeout: ${count(worstCaseGbSeconds)} GB-s, ${usd(worstCaseGbSeconds * PRICES.lambdaArmGbSecond.usd)}.

From the template: compliance table with ${gsiCount} GSIs and ${replicaRegions} replica region(s); workflow log level
${workflowLogLevel} (IncludeExecutionData ${machineProps.Logging.IncludeExecutionData}); alerter BatchSize ${batchSize};
X-Ray active on every function and the state machine. DynamoDB: ${count(rows.stats.wru)} WRU, ${count(rows.stats.rwru)} rWRU,
${count(rows.stats.rru)} RRU. Logs: ${rows.stats.lambdaLogGb.toFixed(2)} GB from functions, ${rows.stats.workflowLogGb.toFixed(2)} GB from the workflow.

## Recorder writes (planned by the recorder on the samples in events/recorder)

Conditional PutItems, no reads and no transactions: ${count(rows.stats.dynamoCalls)} requests per million orders,
${(rows.stats.dynamoCalls / executions).toFixed(2)} per execution.

${table(
  ["recorded", "PutItems", "WRU", "GSI WRU (per region)"],
  Object.values(RECORDED).map((w) => [w.text, w.calls, w.wru, w.indexWru]),
)}

## Assumptions

${table(
  ["assumption", "value"],
  Object.values(ASSUMPTIONS).map((x) => [x.text, x.value]),
)}

## Prices (us-east-1)

${table(
  ["price", "USD", "per", "source", "seen"],
  Object.entries(PRICES).map(([k, p]) => [k, p.usd < 0.001 ? p.usd.toExponential(4) : p.usd, p.unit, p.source, p.seen]),
)}

## Fixed monthly cost (defaults: created VPC, ${cacheNodes}-node cache)

${table(
  ["item", "per month"],
  fixed.map(([k, v]) => [k, usd(v)]),
)}
| total | **${usd(total(fixed))}** |
`;

const target = templateFile("docs/cost-model.md");
if (process.argv.includes("--check")) {
  if (readFileSync(target, "utf8") !== doc) {
    console.error("docs/cost-model.md is stale: run npm run cost-model");
    process.exit(1);
  }
  console.log("docs/cost-model.md matches template.yaml and the ASL");
} else {
  writeFileSync(target, doc);
  console.log(`EXPRESS ${usd(expressTotal)} / STANDARD ${usd(standardTotal)} per million orders -> docs/cost-model.md`);
}
