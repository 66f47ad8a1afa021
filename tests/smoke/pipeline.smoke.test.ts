// Post-deploy smoke test of the whole pipeline: events in at the bus, compliance records out of the table, and
// the workflow's executions. One suite, two targets (tests/smoke/target.ts): a local stack it starts itself
// (SMOKE_TARGET=local, the default) or a deployed stack (SMOKE_TARGET=aws SMOKE_STACK_NAME=... AWS_REGION=...).
//
// Every id carries a run id, so the suite can run again and again against the same deployed stack. The pair of
// orders leaves nothing resting in the book: the maker is filled completely and the taker is IOC, its unfilled
// rest cancelled. The maker is sent first and the taker only once the maker rests, since two events of one
// PutEvents call start two executions that race to the matcher. Not safe for two runs at once on one stack (they
// share the BTC-USD book); if a failure leaves the maker resting on AWS, afterAll cancels it.
//
// Executions: ListExecutions and GetExecutionHistory serve STANDARD state machines only, and the template's
// default WorkflowType is EXPRESS. So on AWS the suite asks DescribeStateMachine for the type before declaring its
// tests: EXPRESS runs a sample event through StartSyncExecution (EXPRESS only) and skips the history check with a
// note (the history is in CloudWatch Logs); STANDARD does the reverse. The local gateway serves both, so the
// local target runs both checks.
import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import {
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
  StartSyncExecutionCommand,
} from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient, GetCommand, paginateQuery, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { fromUnits, toUnits } from "@tradeflow/common/decimal";
import { planTargets, type SmokeTarget, type TargetPlan } from "./target";

type Item = Record<string, unknown>;

const SYMBOL = "BTC-USD";
// template.yaml's instruments default for BTC-USD: tick 0.01, lot 0.0001, price band 1000 bps around the last
// trade. The alert thresholds (70000 high, 50000 low) leave 65000 between them: no alert is raised.
const TICK = "0.01";
const DEFAULT_PRICE = "65000";
const MAKER_QUANTITY = "0.6";
const TAKER_QUANTITY = "1";
const UNFILLED = "0.4";
const VENUE_QUANTITY = "0.25";

const runId = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
const ids = {
  maker: `smoke-${runId}-sell`,
  taker: `smoke-${runId}-buy`,
  invalid: `smoke-${runId}-bad`,
  venueTrade: `smoke-${runId}`,
  syncTrade: `smoke-${runId}-sync`,
  seller: "smoke-seller",
  buyer: "smoke-buyer",
};

const plans = await planTargets(process.env);
for (const plan of plans) declareTarget(plan);

function declareTarget(plan: TargetPlan): void {
  describe(`pipeline smoke (${plan.name} target)`, () => {
    if (plan.run === false) {
      console.warn(`SMOKE ${plan.name.toUpperCase()} TARGET NOT RUN: ${plan.reason}.\nTo run it: ${plan.howToRun}`);
      it.skip(`NOT RUN: ${plan.reason}. To run it: ${plan.howToRun}`, () => {});
      return;
    }
    if (plan.run === "error") {
      it("reaches the deployed stack", () => {
        throw plan.error;
      });
      return;
    }
    pipelineChecks(plan);
  });
}

function pipelineChecks(plan: Extract<TargetPlan, { run: true }>): void {
  const { capabilities } = plan;
  let target: SmokeTarget | undefined;
  let events: EventBridgeClient;
  let sfn: SFNClient;
  let db: DynamoDBDocumentClient;
  let price = DEFAULT_PRICE;
  const eventIds = { maker: "", taker: "", invalid: "", venueTrade: "" };
  const startedAt = Date.now();

  const t = (): SmokeTarget => {
    if (!target) throw new Error("the target did not start (see beforeAll)");
    return target;
  };
  const getItem = async (pk: string, sk = "META"): Promise<Item | undefined> =>
    (
      await db.send(
        new GetCommand({ TableName: t().outputs.ComplianceTableName, Key: { pk, sk }, ConsistentRead: true }),
      )
    ).Item;
  const queryItems = async (pk: string, prefix: string): Promise<Item[]> =>
    (
      await db.send(
        new QueryCommand({
          TableName: t().outputs.ComplianceTableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];
  /** The engine's last trade price as recorded: the last trade of the symbol's newest taker version, if any. */
  const lastTradePrice = async (): Promise<string | undefined> => {
    const pages = paginateQuery(
      { client: db },
      {
        TableName: t().outputs.ComplianceTableName,
        IndexName: "bySymbolTime",
        KeyConditionExpression: "gsi1pk = :symbol",
        FilterExpression: "entity = :version",
        ExpressionAttributeValues: { ":symbol": `SYMBOL#${SYMBOL}`, ":version": "ORDER_VERSION" },
        ScanIndexForward: false,
      },
    );
    for await (const page of pages) {
      const [newest] = page.Items ?? [];
      if (newest) return (newest.trades as { price: string }[]).at(-1)?.price;
    }
    return undefined;
  };
  /** Polls an item until `ready` holds for it; on the deadline, fails with what was last seen. */
  const waitForItem = (what: string, pk: string, ready: (item: Item) => boolean, sk = "META") =>
    poll(what, t().deadlineMs, async () => {
      const item = await getItem(pk, sk);
      return { done: item !== undefined && ready(item), value: item };
    });
  const put = async (entries: PutEventsRequestEntry[]): Promise<string[]> => {
    const result = await events.send(new PutEventsCommand({ Entries: entries }));
    const accepted = (result.Entries ?? []).flatMap((e) => (e.EventId && !e.ErrorCode ? [e.EventId] : []));
    if (result.FailedEntryCount || accepted.length !== entries.length)
      throw new Error(`PutEvents refused entries: ${JSON.stringify(result.Entries)}`);
    return accepted;
  };
  const entry = (source: string, detailType: string, detail: object): PutEventsRequestEntry => ({
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
    EventBusName: t().outputs.EventBusName,
  });
  const order = (orderId: string, clientId: string, side: "BUY" | "SELL", p: string, quantity: string, tif = "GTC") =>
    entry("tradeflow.orders", "Order Submitted", {
      clientId,
      orderId,
      symbol: SYMBOL,
      side,
      type: "LIMIT",
      price: p,
      quantity,
      timeInForce: tif,
      postOnly: false,
      idempotencyKey: `${orderId}-submit`,
    });
  const alphaTrade = (tradeId: string) => ({
    tradeId,
    symbol: SYMBOL,
    side: "BUY",
    price,
    quantity: VENUE_QUANTITY,
    currency: "USD",
    executedAt: Date.now(),
  });

  beforeAll(async () => {
    const opening = Date.now();
    target = await plan.open();
    const seconds = ((Date.now() - opening) / 1000).toFixed(1);
    process.stdout.write(
      `smoke: ${plan.name} target, ${plan.description} (ready in ${seconds} s); run ${runId}; bus ${target.outputs.EventBusName}\n`,
    );
    events = new EventBridgeClient({ ...target.clients });
    sfn = new SFNClient({ ...target.sfn });
    db = DynamoDBDocumentClient.from(new DynamoDBClient({ ...target.clients }));

    // Price at the last trade, so that the price band holds on a stack that has traded before.
    const lastPrice = await lastTradePrice();
    if (lastPrice && toUnits(lastPrice, TICK, 10n ** 12n).ok) price = lastPrice;
    const units = toUnits(price, TICK, 10n ** 12n);
    if (!units.ok) throw new Error(`${price} is not on ${SYMBOL}'s tick`);
    const offTick = fromUnits(units.units * 10n + 5n, "0.001");

    const sent = await put([
      order(ids.maker, ids.seller, "SELL", price, MAKER_QUANTITY),
      entry("tradeflow.venue.alpha", "Trade Reported", alphaTrade(ids.venueTrade)),
      order(ids.invalid, ids.buyer, "BUY", offTick, "0.1"),
    ]);
    eventIds.maker = sent[0] ?? "";
    eventIds.venueTrade = sent[1] ?? "";
    eventIds.invalid = sent[2] ?? "";
    const maker = await waitForItem("the maker order's META", `ORDER#${ids.maker}`, () => true);
    if (maker?.status !== "NEW")
      throw new Error(
        `the maker SELL ${MAKER_QUANTITY} ${SYMBOL} @ ${price} did not rest (status ${String(maker?.status)}): ` +
          "it crossed orders already resting in the book; the suite needs no resting BUY at or above that price",
      );
    eventIds.taker = (await put([order(ids.taker, ids.buyer, "BUY", price, TAKER_QUANTITY, "IOC")]))[0] ?? "";
  });

  afterAll(async () => {
    if (!target) return;
    try {
      // A shared stack keeps its books: cancel the maker if a failure left it resting.
      const maker = target.shared ? await getItem(`ORDER#${ids.maker}`).catch(() => undefined) : undefined;
      if (maker && (maker.status === "NEW" || maker.status === "PARTIALLY_FILLED")) {
        await put([
          entry("tradeflow.orders", "Order Cancel Requested", {
            clientId: ids.seller,
            orderId: ids.maker,
            symbol: SYMBOL,
            idempotencyKey: `${ids.maker}-cleanup`,
          }),
        ]);
        process.stdout.write(`smoke: the maker ${ids.maker} was left resting; a cancel was sent\n`);
      }
    } finally {
      for (const client of [events, sfn, db]) client?.destroy();
      await target.stop();
    }
  });

  it("records the maker: rested as NEW, then FILLED by the taker", async () => {
    const meta = await waitForItem("the maker FILLED", `ORDER#${ids.maker}`, (i) => i.status === "FILLED");
    expect(meta).toMatchObject({
      orderId: ids.maker,
      clientId: ids.seller,
      symbol: SYMBOL,
      side: "SELL",
      orderType: "LIMIT",
      price,
      quantity: MAKER_QUANTITY,
      status: "FILLED",
      filledQuantity: MAKER_QUANTITY,
      remainingQuantity: "0",
      cancelledQuantity: "0",
      averagePrice: price,
    });
    const history = await queryItems(`ORDER#${ids.maker}`, "V#");
    expect(history.map((v) => [v.cause, v.status, v.remainingQuantity, v.eventId])).toEqual([
      ["SUBMIT", "NEW", MAKER_QUANTITY, eventIds.maker],
      ["FILL", "FILLED", "0", eventIds.taker],
    ]);
  });

  it("records the IOC taker: filled against the maker, its unfilled rest cancelled", async () => {
    const meta = await waitForItem("the taker's final state", `ORDER#${ids.taker}`, (i) => i.status === "CANCELLED");
    expect(meta).toMatchObject({
      orderId: ids.taker,
      clientId: ids.buyer,
      side: "BUY",
      orderType: "LIMIT",
      quantity: TAKER_QUANTITY,
      status: "CANCELLED",
      filledQuantity: MAKER_QUANTITY,
      remainingQuantity: "0",
      cancelledQuantity: UNFILLED,
      averagePrice: price,
    });
    // Its fill and the cancel of the rest are one engine result: one version.
    const history = await queryItems(`ORDER#${ids.taker}`, "V#");
    expect(history).toEqual([
      expect.objectContaining({
        cause: "SUBMIT",
        status: "CANCELLED",
        filledQuantity: MAKER_QUANTITY,
        cancelledQuantity: UNFILLED,
        averagePrice: price,
        timeInForce: "IOC",
        eventId: eventIds.taker,
      }),
    ]);
  });

  it("records the engine trade in the taker's version, and the maker's fill in a version of its own", async () => {
    const [takerVersions = [], makerVersions = []] = await poll(
      "the taker's version and the maker's fill",
      t().deadlineMs,
      async () => {
        const versions = await Promise.all([ids.taker, ids.maker].map((o) => queryItems(`ORDER#${o}`, "V#")));
        return { done: versions[0]?.length === 1 && versions[1]?.length === 2, value: versions };
      },
    );
    const [taken] = takerVersions;
    const filled = makerVersions[1];
    expect(taken?.trades).toEqual([
      expect.objectContaining({
        symbol: SYMBOL,
        price,
        quantity: MAKER_QUANTITY,
        makerOrderId: ids.maker,
        makerClientId: ids.seller,
        takerOrderId: ids.taker,
        takerClientId: ids.buyer,
        aggressorSide: "BUY",
        makerRemainingQuantity: "0",
      }),
    ]);
    expect(filled).toMatchObject({ cause: "FILL", version: taken?.version, trades: taken?.trades });
  });

  it("records the venue trade", async () => {
    const tradeId = `alpha:${ids.venueTrade}`;
    const trade = await waitForItem(`TRADE#${tradeId}`, `TRADE#${tradeId}`, () => true);
    expect(trade).toMatchObject({
      entity: "TRADE",
      origin: "VENUE",
      venue: "alpha",
      venueTradeId: ids.venueTrade,
      symbol: SYMBOL,
      side: "BUY",
      price,
      quantity: VENUE_QUANTITY,
      currency: "USD",
    });
  });

  it("records the invalid order as a VALIDATION rejection with its reason code", async () => {
    const rejection = await waitForItem("the rejection", `REJECTION#${eventIds.invalid}`, () => true);
    expect(rejection).toMatchObject({
      entity: "REJECTION",
      stage: "VALIDATION",
      reasons: ["PRICE_OFF_TICK"],
      orderId: ids.invalid,
      clientId: ids.buyer,
      symbol: SYMBOL,
      source: "tradeflow.orders",
      detailType: "Order Submitted",
    });
    expect(await getItem(`ORDER#${ids.invalid}`)).toBeUndefined();
  });

  const executionsTitle =
    "executions: ListExecutions finds one per event, GetExecutionHistory runs ExecutionStarted … ExecutionSucceeded";
  if (capabilities.executionHistory) {
    it(executionsTitle, async () => {
      const expected: Record<keyof typeof eventIds, readonly string[]> = {
        maker: ["Validate", "IsOrder", "Match", "Enrich", "Record"],
        taker: ["Validate", "IsOrder", "Match", "Enrich", "Record"],
        venueTrade: ["Validate", "IsOrder", "NotAnOrder", "Enrich", "Record"],
        invalid: ["Validate", "RecordRejection"],
      };
      const found = await poll("the four executions, ended", t().deadlineMs, async () => {
        const runs = await executionsOf(sfn, t().outputs.StateMachineArn, startedAt, new Set(Object.values(eventIds)));
        const done = Object.values(eventIds).every(
          (id) => runs.get(id) && runs.get(id)?.execution.status !== "RUNNING",
        );
        return { done, value: runs };
      });
      const paths: string[] = [];
      for (const [key, states] of Object.entries(expected) as [keyof typeof eventIds, readonly string[]][]) {
        const run = found.get(eventIds[key]);
        expect(run?.execution.status).toBe("SUCCEEDED");
        const history = run?.history ?? [];
        const entered = history.flatMap((e) =>
          e.stateEnteredEventDetails?.name ? [e.stateEnteredEventDetails.name] : [],
        );
        expect(history[0]?.type).toBe("ExecutionStarted");
        expect(history.at(-1)?.type).toBe("ExecutionSucceeded");
        expect(entered.slice(0, 2)).toEqual(["IsEvent", "ProcessEvent"]);
        expect(entered.at(-1)).toBe(states.at(-1));
        expect(entered).toEqual(expect.arrayContaining([...states]));
        if (states.includes("Match")) expect(entered.indexOf("Validate")).toBeLessThan(entered.indexOf("Match"));
        paths.push(`${key}: ExecutionStarted → ${entered.join(" → ")} → ExecutionSucceeded`);
      }
      process.stdout.write(`smoke: state paths\n  ${paths.join("\n  ")}\n`);
    });
  } else {
    const note =
      `${capabilities.workflowType} state machines have no ListExecutions/GetExecutionHistory; ` +
      "their executions are checked with StartSyncExecution below, and their history is in CloudWatch Logs";
    console.warn(`SMOKE (${plan.name}): not run: ${executionsTitle}: ${note}`);
    it.skip(`${executionsTitle} (not run: ${note})`, () => {});
  }

  const syncTitle = "executions: StartSyncExecution of a venue trade event succeeds and records it";
  if (capabilities.syncExecution) {
    it(syncTitle, async () => {
      // The event as the bus rule hands it to the state machine.
      const envelope = {
        version: "0",
        id: `${ids.syncTrade}-event`,
        "detail-type": "Trade Reported",
        source: "tradeflow.venue.alpha",
        account: t().accountId,
        time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        region: t().region,
        resources: [],
        detail: alphaTrade(ids.syncTrade),
      };
      const result = await sfn.send(
        new StartSyncExecutionCommand({
          stateMachineArn: t().outputs.StateMachineArn,
          name: ids.syncTrade,
          input: JSON.stringify(envelope),
        }),
      );
      expect({ status: result.status, error: result.error, cause: result.cause }).toEqual({
        status: "SUCCEEDED",
        error: undefined,
        cause: undefined,
      });
      const output = JSON.parse(result.output ?? "{}") as { id?: unknown; recorded?: unknown };
      expect(output.id).toBe(envelope.id);
      expect(output.recorded).toBeDefined();
      // Synchronous: recorded by the time the call returns.
      expect(await getItem(`TRADE#alpha:${ids.syncTrade}`)).toMatchObject({
        origin: "VENUE",
        venueTradeId: ids.syncTrade,
        price,
        quantity: VENUE_QUANTITY,
      });
    });
  } else {
    const note = "StartSyncExecution serves EXPRESS state machines only; ListExecutions covers this STANDARD one";
    console.warn(`SMOKE (${plan.name}): not run: ${syncTitle}: ${note}`);
    it.skip(`${syncTitle} (not run: ${note})`, () => {});
  }
}

interface Run {
  readonly execution: ExecutionListItem;
  readonly history: HistoryEvent[];
}

/** This run's executions by the EventBridge event id they were started with (the envelope's `id`). */
async function executionsOf(
  sfn: SFNClient,
  stateMachineArn: string,
  since: number,
  eventIds: ReadonlySet<string>,
): Promise<Map<string, Run>> {
  const runs = new Map<string, Run>();
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 100, nextToken }));
    for (const execution of page.executions ?? []) {
      if (!execution.executionArn || (execution.startDate?.getTime() ?? 0) < since - 60_000) continue;
      const history = await historyOf(sfn, execution.executionArn);
      const input = history[0]?.executionStartedEventDetails?.input;
      const id = input ? (JSON.parse(input) as { id?: unknown }).id : undefined;
      if (typeof id === "string" && eventIds.has(id)) runs.set(id, { execution, history });
    }
    // Newest first: past this run's start, there is nothing of it left.
    const oldest = page.executions?.at(-1)?.startDate?.getTime() ?? 0;
    nextToken = oldest < since - 60_000 ? undefined : page.nextToken;
  } while (nextToken);
  return runs;
}

async function historyOf(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** Calls `probe` every half second until it is done; at the deadline, fails with what it last saw. */
async function poll<T>(
  what: string,
  deadlineMs: number,
  probe: () => Promise<{ done: boolean; value: T }>,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const { done, value } = await probe();
    if (done) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${deadlineMs / 1000} s waiting for ${what}; last seen: ${JSON.stringify(value, replacer)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function replacer(_key: string, value: unknown): unknown {
  return value instanceof Map ? Object.fromEntries(value) : value;
}
