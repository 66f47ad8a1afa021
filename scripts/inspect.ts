// npm run inspect -- <what>: the running local stack's order books, compliance records, alerts, dead letters and
// executions, read through the gateway (and Redis, for the books). --json on every subcommand.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeExecutionCommand, type ExecutionStatus, ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import { GetQueueAttributesCommand, type Message, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, paginateQuery, paginateScan, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { type Instrument, InstrumentListSchema, instrumentRegistry } from "@tradeflow/common/instruments";
import { MatchingEngine, type Trade } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import { deadLetterQueues } from "../local/sqs/dead-letters";
import type { StackInfo } from "../local/stack-file";
import { stepNotes, traceOf } from "../local/stepfunctions/traces";
import { loadTemplate } from "../local/template";
import {
  awsConfig,
  cliArgs,
  columns,
  duration,
  executionArn,
  executionHistory,
  isoTime,
  isRecord,
  machineStates,
  positiveInt,
  printJson,
  requireRunningStack,
  runCommand,
  UsageError,
} from "./cli";

const usage = `usage: npm run inspect -- <command> [--json]

  depth <SYMBOL> [levels]              the order book: bids and asks per price level (default 10 levels)
  order <orderId>                      an order's record: current state, versions, fills
  trades [SYMBOL] [--limit N]          the latest trades, newest first (default: every listed instrument, 20)
  alerts [--limit N]                   the latest price alerts, and what reached the SNS topics' local inboxes
  dlq                                  every dead-letter queue of template.yaml: count and messages (peeked)
  executions [--status S] [--limit N]  the latest workflow executions (S: RUNNING, SUCCEEDED, FAILED...)
  history <executionArn|name>          an execution's states with durations, retries and catches

  --json              machine-readable output
  --endpoint-url URL  the gateway (default: the running stack's)`;

type Item = Record<string, unknown>;
type Args = { positionals: string[]; limit: number | undefined; status: string | undefined };
/** What a subcommand found, and how to say it in text. */
type Report = { data: unknown; text: string };

const str = (value: unknown): string => (value === undefined || value === null ? "" : String(value));

class Inspector {
  private readonly config;
  private readonly documents: DynamoDBDocumentClient;
  private readonly sfn: SFNClient;
  private readonly sqs: SQSClient;

  constructor(
    private readonly info: StackInfo,
    endpoint?: string,
  ) {
    this.config = awsConfig(info, endpoint);
    this.documents = DynamoDBDocumentClient.from(new DynamoDBClient(this.config));
    this.sfn = new SFNClient(this.config);
    this.sqs = new SQSClient(this.config);
  }

  private table(logicalId: string): string {
    const name = this.info.tables[logicalId];
    if (!name) throw new Error(`the running stack has no table ${logicalId}`);
    return name;
  }

  private async instruments(): Promise<Instrument[]> {
    const ssm = new SSMClient(this.config);
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: `${this.info.configPath}/instruments` }));
    return InstrumentListSchema.parse(JSON.parse(Parameter?.Value ?? "null"));
  }

  private async query(input: Omit<QueryCommandInput, "TableName">, limit = Number.POSITIVE_INFINITY) {
    const items: Item[] = [];
    const pages = paginateQuery({ client: this.documents }, { TableName: this.table("ComplianceTable"), ...input });
    for await (const page of pages) {
      items.push(...(page.Items ?? []));
      if (items.length >= limit) break;
    }
    return items.slice(0, limit);
  }

  async depth({ positionals: [symbol, levelsArg] }: Args): Promise<Report> {
    if (!symbol) throw new UsageError("depth needs a SYMBOL");
    const levels = positiveInt(levelsArg, "levels", 10);
    const instruments = await this.instruments();
    if (!instruments.some((i) => i.symbol === symbol))
      throw new UsageError(`${symbol} is not listed; instruments: ${instruments.map((i) => i.symbol).join(", ")}`);
    const redis = new Redis(this.info.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
    try {
      const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(instruments) });
      const book = await engine.depth(symbol, levels);
      const rows = Array.from({ length: Math.max(book.bids.length, book.asks.length) }, (_, i) => {
        const [bid, ask] = [book.bids[i], book.asks[i]];
        return [
          str(bid?.orders),
          str(bid?.quantity),
          str(bid?.price),
          "|",
          str(ask?.price),
          str(ask?.quantity),
          str(ask?.orders),
        ];
      });
      const title = `${symbol}  last ${book.lastTradePrice ?? "-"}  trades ${book.tradeSequence}`;
      const table = columns(
        [["orders", "bid qty", "bid", "|", "ask", "ask qty", "orders"], ...rows],
        [0, 1, 2, 4, 5, 6],
      );
      return { data: book, text: rows.length ? `${title}\n${table}` : `${title}\n(empty book)` };
    } finally {
      redis.disconnect();
    }
  }

  async order({ positionals: [orderId] }: Args): Promise<Report> {
    if (!orderId) throw new UsageError("order needs an orderId");
    const items = await this.query({
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": `ORDER#${orderId}` },
    });
    const meta = items.find((i) => i.sk === "META");
    const versions = items.filter((i) => str(i.sk).startsWith("V#"));
    if (!items.length) return { data: null, text: `no order ${orderId} in ${this.table("ComplianceTable")}` };
    const fills = fillsOf(orderId, versions);
    const m = meta ?? {};
    const submit = versions.find((v) => v.cause === "SUBMIT") ?? {};
    const text = [
      `order ${orderId}  client ${str(m.clientId)}  ${str(m.symbol)} ${str(m.side)} ${str(m.orderType)} ${str(m.quantity)}` +
        `${m.price ? ` @ ${str(m.price)}` : ""} ${str(submit.timeInForce)}${submit.postOnly ? " post-only" : ""}`,
      `  ${str(m.status)}  filled ${str(m.filledQuantity)}  remaining ${str(m.remainingQuantity)}  cancelled ${str(m.cancelledQuantity)}` +
        `${m.averagePrice ? `  avg ${str(m.averagePrice)}` : ""}  version ${str(m.version)}`,
      `  submitted ${isoTime(typeof m.submittedAt === "number" ? m.submittedAt : undefined)}  event ${str(submit.eventId)}`,
      "versions:",
      columns(
        versions.map((v) => [
          `  ${str(v.version)}`,
          str(v.cause),
          str(v.status),
          `remaining ${str(v.remainingQuantity)}`,
          `filled ${str(v.filledQuantity)}`,
          tradesOf(v)
            .map((t) => t.tradeId)
            .join(", "),
          `event ${str(v.eventId)}`,
        ]),
      ),
      fills.length ? "fills:" : "fills: none",
      columns(
        fills.map((f) => {
          const counterparty =
            f.role === "MAKER" ? [f.takerOrderId, f.takerClientId] : [f.makerOrderId, f.makerClientId];
          return [
            `  ${f.tradeId}`,
            f.role,
            `${f.quantity} @ ${f.price}`,
            isoTime(f.timestamp),
            `against ${counterparty.join(" / ")}`,
          ];
        }),
      ),
    ];
    return { data: { meta: meta ?? null, versions, fills }, text: text.filter(Boolean).join("\n") };
  }

  async trades({ positionals: [symbol], limit = 20 }: Args): Promise<Report> {
    const symbols = symbol ? [symbol] : (await this.instruments()).map((i) => i.symbol);
    const perSymbol = await Promise.all(
      symbols.map((s) =>
        this.query(
          {
            IndexName: "bySymbolTime",
            KeyConditionExpression: "gsi1pk = :symbol",
            // Venue trades, and the taker's version of each engine command that traded (its trades).
            FilterExpression: "entity IN (:trade, :version)",
            ExpressionAttributeValues: { ":symbol": `SYMBOL#${s}`, ":trade": "TRADE", ":version": "ORDER_VERSION" },
            ScanIndexForward: false,
          },
          limit,
        ),
      ),
    );
    const trades = perSymbol
      .flat()
      .flatMap((item): Item[] =>
        item.entity === "TRADE"
          ? [item]
          : tradesOf(item).map((t) => ({ ...t, origin: "ENGINE", executedAt: new Date(t.timestamp).toISOString() })),
      )
      .sort((a, b) => str(b.executedAt).localeCompare(str(a.executedAt)) || Number(b.sequence) - Number(a.sequence))
      .slice(0, limit);
    const rows = trades.map((t) => [
      str(t.executedAt),
      str(t.tradeId),
      str(t.symbol),
      str(t.aggressorSide ?? t.side),
      str(t.quantity),
      str(t.price),
      t.origin === "ENGINE"
        ? `${str(t.makerOrderId)} (maker) / ${str(t.takerOrderId)} (taker)`
        : `venue ${str(t.venue)} ${str(t.venueTradeId)}`,
    ]);
    const header = ["executed", "trade", "symbol", "side", "qty", "price", "orders"];
    const text = rows.length ? columns([header, ...rows], [4, 5]) : `no trades for ${symbols.join(", ")}`;
    return { data: trades, text };
  }

  /** Up to `max` messages, received with VisibilityTimeout 0 so that they stay where they are. */
  private async peek(queueUrl: string, max: number) {
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    const messages = new Map<string, Message>();
    for (let round = 0; round < 10 && messages.size < max; round++) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ["All"],
          MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
        }),
      );
      const before = messages.size;
      for (const m of Messages) if (m.MessageId) messages.set(m.MessageId, m);
      if (messages.size === before) break;
    }
    return {
      count: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      messages: [...messages.values()].slice(0, max).map((m) => ({
        messageId: m.MessageId,
        sentAt: m.Attributes?.SentTimestamp ? isoTime(Number(m.Attributes.SentTimestamp)) : undefined,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
        attributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? v.DataType ?? ""]),
        ),
        body: parseJson(m.Body ?? ""),
      })),
    };
  }

  async alerts({ limit = 20 }: Args): Promise<Report> {
    const items: Item[] = [];
    for await (const page of paginateScan({ client: this.documents }, { TableName: this.table("AlertsTable") }))
      items.push(...(page.Items ?? []));
    const alerts = items
      .filter((i) => str(i.sk).startsWith("ALERT#"))
      .sort((a, b) => str(b.tradeTime).localeCompare(str(a.tradeTime)) || Number(b.createdAt) - Number(a.createdAt))
      .slice(0, limit);
    const zones = items.filter((i) => i.sk === "STATE");
    const inboxes = await Promise.all(
      Object.entries(this.info.topicInboxes).map(async ([topic, url]) => ({ topic, ...(await this.peek(url, limit)) })),
    );
    const text = [
      alerts.length ? `alerts (newest first, ${alerts.length} shown):` : "no alerts",
      columns(
        alerts.map((a) => [
          `  ${str(a.tradeTime)}`,
          str(a.symbol),
          str(a.direction),
          `${str(a.fromZone)} -> ${str(a.toZone)}`,
          `price ${str(a.price)}`,
          `threshold ${str(a.threshold)}`,
          `trade ${str(a.tradeId)}`,
          a.publishedAt ? "published" : "NOT PUBLISHED",
        ]),
      ),
      zones.length ? "zones:" : "",
      columns(
        zones.map((z) => [
          `  ${str(z.pk).replace(/^SYMBOL#/, "")}`,
          str(z.zone),
          `last ${str(z.lastPrice)}`,
          `trade ${str(z.lastTradeId)}`,
        ]),
      ),
      ...inboxes.map((inbox) =>
        [
          `${inbox.topic} inbox: ${inbox.count} message(s)`,
          ...inbox.messages.map((m) => `  ${m.sentAt ?? ""}  ${summarise(m.body)}`),
        ].join("\n"),
      ),
    ];
    return { data: { alerts, zones, inboxes }, text: text.filter(Boolean).join("\n") };
  }

  async dlq(): Promise<Report> {
    const queues = [...deadLetterQueues(loadTemplate())].map(([logicalId, feeders]) => ({
      logicalId,
      feeders,
      url: this.info.queues[logicalId],
    }));
    const found = await Promise.all(
      queues.map(async (q) => ({
        ...q,
        ...(q.url ? await this.peek(q.url, 10) : { count: 0, inFlight: 0, messages: [] }),
      })),
    );
    const text = found
      .map((q) =>
        [
          `${q.logicalId}: ${q.url ? `${q.count} message(s)` : "not in the running stack"}  (from ${q.feeders.join(", ")})`,
          ...q.messages.flatMap((m) => [
            `  ${m.sentAt ?? ""}  ${summarise(m.body)}`,
            ...Object.entries(m.attributes).map(([k, v]) => `      ${k}: ${oneLine(v, 160)}`),
          ]),
        ].join("\n"),
      )
      .join("\n");
    return { data: found, text };
  }

  async executions({ limit = 20, status }: Args): Promise<Report> {
    const statuses = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
    const statusFilter = status?.toUpperCase();
    if (statusFilter && !statuses.includes(statusFilter))
      throw new UsageError(`--status must be one of ${statuses.join(", ")}`);
    const listed = [];
    let nextToken: string | undefined;
    do {
      const page = await this.sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: this.info.stateMachineArn,
          statusFilter: statusFilter as ExecutionStatus | undefined,
          maxResults: Math.min(limit, 1000),
          nextToken,
        }),
      );
      listed.push(...(page.executions ?? []));
      nextToken = page.nextToken;
    } while (nextToken && listed.length < limit);
    const executions = await Promise.all(
      listed.slice(0, limit).map(async (e) => {
        const d = await this.sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
        const input = parseJson(d.input ?? "");
        const envelope = isRecord(input) ? input : {};
        const detail = isRecord(envelope.detail) ? envelope.detail : {};
        return {
          name: e.name,
          executionArn: e.executionArn,
          status: e.status,
          startDate: e.startDate?.toISOString(),
          stopDate: e.stopDate?.toISOString(),
          durationMs: e.stopDate && e.startDate ? e.stopDate.getTime() - e.startDate.getTime() : undefined,
          eventId: envelope.id,
          source: envelope.source,
          detailType: envelope["detail-type"],
          subject: str(detail.orderId ?? detail.tradeId ?? detail.trade_id ?? ""),
          ...(d.error && { error: d.error }),
        };
      }),
    );
    const rows = executions.map((e) => [
      isoTime(e.startDate ? Date.parse(e.startDate) : undefined),
      str(e.status),
      e.durationMs === undefined ? "" : duration(e.durationMs),
      str(e.name),
      `${str(e.source)} ${str(e.detailType)} ${e.subject}`.trim(),
      str(e.error),
    ]);
    const header = ["started", "status", "took", "name", "event", "error"];
    return { data: executions, text: rows.length ? columns([header, ...rows], [2]) : "no executions" };
  }

  async history({ positionals: [nameOrArn] }: Args): Promise<Report> {
    if (!nameOrArn) throw new UsageError("history needs an execution ARN or name");
    const machine = await machineStates(this.sfn, this.info.stateMachineArn);
    const arn = executionArn(this.info, machine, nameOrArn);
    const [execution, events] = await Promise.all([
      this.sfn.send(new DescribeExecutionCommand({ executionArn: arn })),
      executionHistory(this.sfn, arn),
    ]);
    const states = traceOf(events, machine.states);
    const took = execution.startDate
      ? duration((execution.stopDate ?? new Date()).getTime() - execution.startDate.getTime())
      : "";
    const rows = states.map((s) => [
      `${"  ".repeat(s.depth + 1)}${s.state}`,
      s.type,
      duration(s.startMs),
      duration(s.durationMs),
      s.attempts ? String(s.attempts) : "",
      stepNotes(s),
    ]);
    const text = [
      `${execution.name}  ${execution.status}  ${took}${execution.error ? `  ${execution.error}: ${oneLine(str(execution.cause), 200)}` : ""}`,
      columns([["  state", "type", "at", "took", "attempts", "notes"], ...rows], [2, 3, 4]),
    ].join("\n");
    const data = {
      executionArn: arn,
      status: execution.status,
      startDate: execution.startDate?.toISOString(),
      stopDate: execution.stopDate?.toISOString(),
      ...(execution.error && { error: execution.error, cause: execution.cause }),
      states,
    };
    return { data, text };
  }
}

/** The engine trades of an order version, as the recorder wrote them. */
const tradesOf = (version: Item): Trade[] => (Array.isArray(version.trades) ? (version.trades as Trade[]) : []);

/** An order's fills: the trades it took part in, over its versions, each once, with its role in each. */
function fillsOf(orderId: string, versions: readonly Item[]): (Trade & { role: "MAKER" | "TAKER" })[] {
  const fills = new Map<string, Trade & { role: "MAKER" | "TAKER" }>();
  for (const t of versions.flatMap(tradesOf)) {
    if (t.makerOrderId === orderId) fills.set(t.tradeId, { ...t, role: "MAKER" });
    else if (t.takerOrderId === orderId) fills.set(t.tradeId, { ...t, role: "TAKER" });
  }
  return [...fills.values()].sort((a, b) => a.sequence - b.sequence);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A message body in a line: an EventBridge event, a failed execution's report, an SNS notification, or JSON. */
function summarise(body: unknown): string {
  if (!isRecord(body)) return oneLine(typeof body === "string" ? body : JSON.stringify(body), 160);
  const event = isRecord(body.event) ? body.event : body;
  const what = `${str(event["detail-type"])} ${str(event.id)} from ${str(event.source)}`;
  if (isRecord(body.event) && isRecord(body.error))
    return `${what}: ${str(body.error.Error)} ${oneLine(str(body.error.Cause), 120)}`;
  if ("detail-type" in body) return what;
  if (body.Type === "Notification") return `${str(body.Subject)}: ${oneLine(str(body.Message), 140)}`;
  return oneLine(JSON.stringify(body), 160);
}

async function main(): Promise<number> {
  const { values, positionals } = cliArgs(usage, {
    options: {
      json: { type: "boolean", default: false },
      limit: { type: "string" },
      status: { type: "string" },
      "endpoint-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  const [command = "", ...rest] = positionals;
  const commands = ["depth", "order", "trades", "alerts", "dlq", "executions", "history"] as const;
  const name = commands.find((c) => c === command);
  if (!name) throw new UsageError(command ? `unknown command ${command}\n\n${usage}` : usage);
  const inspector = new Inspector(requireRunningStack(), values["endpoint-url"]);
  const args: Args = {
    positionals: rest,
    limit: values.limit === undefined ? undefined : positiveInt(values.limit, "--limit", 20),
    status: values.status,
  };
  const report = await inspector[name](args);
  if (values.json) printJson(report.data);
  else process.stdout.write(`${report.text}\n`);
  return name === "order" && report.data === null ? 1 : 0;
}

runCommand(main);
