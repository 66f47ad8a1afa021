// The recorder's I/O: read what the plan touches, write what is new in all-or-nothing transactions, then move
// LAST_TRADE and publish. A replay reads, finds every fact already there and writes nothing.
import { setTimeout as sleep } from "node:timers/promises";
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  type DynamoDBDocumentClient,
  PutCommand,
  TransactGetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { type PriceTick, tickOrderKey } from "../alerts/tick";
import { parseRecordInput } from "./input";
import {
  COMPLIANCE_SOURCE,
  conflictFact,
  type DomainEvent,
  type Fact,
  type Item,
  type ItemKey,
  planRecord,
  type RecordPlan,
  rejectedEvent,
} from "./plan";
import { itemId, keysToRead, type MetaUpdate, type Resolution, resolveWrites } from "./resolve";

export interface RecorderDeps {
  readonly db: DynamoDBDocumentClient;
  readonly events: EventBridgeClient;
  readonly sqs: SQSClient;
  readonly tableName: string;
  readonly busName: string;
  readonly alertQueueUrl: string;
  readonly now: () => Date;
}

export type RecordOutcome = "RECORDED" | "DUPLICATE" | "CONFLICT";

/** The Record state's result ($.recorded). */
export interface RecordSummary {
  readonly outcome: RecordOutcome;
  readonly eventId: string;
  /** Items written by this invocation: 0 for a replay. */
  readonly written: number;
  /** Facts found already recorded with the same content. */
  readonly duplicates: number;
  readonly conflicts: readonly string[];
  readonly published: number;
  readonly ticks: number;
  readonly counts: RecordPlan["counts"];
}

/** Another writer kept changing the items this record depends on. Retryable: the state machine retries it. */
export class RecorderContention extends Error {
  override readonly name = "RecorderContention";
}

/** The record is written but EventBridge or SQS refused part of what followed. Retryable: a retry re-publishes. */
export class RecorderPublishError extends Error {
  override readonly name = "RecorderPublishError";
}

const MAX_ATTEMPTS = 6;
/** The first wait between attempts; it doubles, with full jitter, so concurrent writers of one order spread out. */
const BACKOFF_BASE_MS = 10;
const TRANSACTION_LIMIT = 100;
const PUBLISH_BATCH = 10;

export async function recordExecution(raw: unknown, deps: RecorderDeps): Promise<RecordSummary> {
  const plan = planRecord(parseRecordInput(raw));
  const resolution = await writePlan(plan, deps);
  if (resolution.conflicts.length > 0) {
    const conflict = conflictFact(plan.subject, resolution.conflicts);
    const written = (await putOnce(conflict, deps)) ? 1 : 0;
    const event = rejectedEvent(plan.subject, "RECORDER", ["DUPLICATE_ID_CONFLICT"], String(conflict.item.message));
    await publish([event], [], deps);
    return summary(plan, "CONFLICT", written, resolution, 1, 0);
  }
  const lastTrades = await advanceLastTrades(plan.ticks, deps);
  await publish(plan.events, plan.ticks, deps);
  const written = resolution.puts.length + resolution.updates.length + lastTrades;
  return summary(
    plan,
    written > 0 ? "RECORDED" : "DUPLICATE",
    written,
    resolution,
    plan.events.length,
    plan.ticks.length,
  );
}

function summary(
  plan: RecordPlan,
  outcome: RecordOutcome,
  written: number,
  resolution: Resolution,
  published: number,
  ticks: number,
): RecordSummary {
  const conflicts = resolution.conflicts.map((k) => `${k.pk}/${k.sk}`);
  return {
    outcome,
    eventId: plan.subject.eventId,
    written,
    duplicates: resolution.duplicates,
    conflicts,
    published,
    ticks,
    counts: plan.counts,
  };
}

/**
 * Read, resolve, write; again from the top when a condition fails because a concurrent execution wrote first.
 * Each transaction is all-or-nothing and every write in it is conditional, so a crash between two chunks of a
 * large record leaves whole chunks, and the retry writes only the rest.
 */
async function writePlan(plan: RecordPlan, deps: RecorderDeps): Promise<Resolution> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(Math.random() * BACKOFF_BASE_MS * 2 ** attempt);
    const resolution = resolveWrites(plan, await readItems(keysToRead(plan), deps));
    if (resolution.conflicts.length > 0 || resolution.puts.length + resolution.updates.length === 0) return resolution;
    try {
      for (const chunk of chunks(transactItems(resolution, deps), TRANSACTION_LIMIT)) {
        await deps.db.send(new TransactWriteCommand({ TransactItems: chunk }));
      }
      return resolution;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
  throw new RecorderContention(`event ${plan.subject.eventId}: items kept changing over ${MAX_ATTEMPTS} attempts`);
}

async function readItems(keys: readonly ItemKey[], deps: RecorderDeps): Promise<Map<string, Item>> {
  const found = new Map<string, Item>();
  for (const chunk of chunks(keys, TRANSACTION_LIMIT)) {
    const { Responses = [] } = await deps.db.send(
      new TransactGetCommand({ TransactItems: chunk.map((Key) => ({ Get: { TableName: deps.tableName, Key } })) }),
    );
    for (const { Item } of Responses) {
      if (Item) found.set(itemId({ pk: String(Item.pk), sk: String(Item.sk) }), Item);
    }
  }
  return found;
}

type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

/** Facts first, META last: a reader never sees an order's status ahead of the facts behind it. */
function transactItems(resolution: Resolution, deps: RecorderDeps): TransactItem[] {
  const recordedAt = deps.now().toISOString();
  return [
    ...resolution.puts.map((f) => ({ Put: factPut(f, recordedAt, deps) })),
    ...resolution.updates.map((u) => ({ Update: metaUpdateInput(u, recordedAt, deps) })),
  ];
}

function factPut(f: Fact, recordedAt: string, deps: RecorderDeps) {
  return {
    TableName: deps.tableName,
    Item: { ...f.item, recordedAt },
    ConditionExpression: "attribute_not_exists(pk)",
  };
}

function metaUpdateInput(u: MetaUpdate, recordedAt: string, deps: RecorderDeps) {
  const entries = Object.entries({ ...u.set, updatedAt: recordedAt });
  const names = Object.fromEntries(entries.map(([name], i) => [`#a${i}`, name]));
  const values = Object.fromEntries(entries.map(([, value], i) => [`:v${i}`, value]));
  const locked = u.expectedVersion !== undefined;
  return {
    TableName: deps.tableName,
    Key: u.key,
    UpdateExpression: `SET ${entries.map((_, i) => `#a${i} = :v${i}`).join(", ")}`,
    ConditionExpression: locked
      ? `#version = :expectedVersion AND ${u.expectedSubmitted ? "attribute_exists" : "attribute_not_exists"}(#orderHash)`
      : "attribute_not_exists(pk)",
    ExpressionAttributeNames: { ...names, ...(locked ? { "#version": "version", "#orderHash": "orderHash" } : {}) },
    ExpressionAttributeValues: { ...values, ...(locked ? { ":expectedVersion": u.expectedVersion } : {}) },
  };
}

/** Writes one fact unless its key exists; true when this call wrote it. */
async function putOnce(f: Fact, deps: RecorderDeps): Promise<boolean> {
  try {
    await deps.db.send(new PutCommand(factPut(f, deps.now().toISOString(), deps)));
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

/** LAST_TRADE per symbol moves forward in trade time only; an older or repeated trade leaves it alone. */
async function advanceLastTrades(ticks: readonly PriceTick[], deps: RecorderDeps): Promise<number> {
  const newest = new Map<string, PriceTick>();
  for (const t of ticks) {
    const seen = newest.get(t.symbol);
    if (!seen || tickOrderKey(seen) < tickOrderKey(t)) newest.set(t.symbol, t);
  }
  let moved = 0;
  for (const t of newest.values()) {
    try {
      await deps.db.send(
        new PutCommand({
          TableName: deps.tableName,
          Item: {
            pk: `SYMBOL#${t.symbol}`,
            sk: "LAST_TRADE",
            entity: "LAST_TRADE",
            symbol: t.symbol,
            price: t.price,
            tradeId: t.tradeId,
            executedAt: new Date(t.timestamp).toISOString(),
            orderKey: tickOrderKey(t),
            updatedAt: deps.now().toISOString(),
          },
          ConditionExpression: "attribute_not_exists(pk) OR orderKey < :orderKey",
          ExpressionAttributeValues: { ":orderKey": tickOrderKey(t) },
        }),
      );
      moved++;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
  return moved;
}

/** Domain events to the bus and price ticks to the alert queue, ten per call; any refused entry fails the record. */
async function publish(events: readonly DomainEvent[], ticks: readonly PriceTick[], deps: RecorderDeps): Promise<void> {
  for (const batch of chunks(events, PUBLISH_BATCH)) {
    const result = await deps.events.send(
      new PutEventsCommand({
        Entries: batch.map((e) => ({
          EventBusName: deps.busName,
          Source: COMPLIANCE_SOURCE,
          DetailType: e.detailType,
          Time: new Date(e.time),
          Detail: JSON.stringify(e.detail),
        })),
      }),
    );
    if (result.FailedEntryCount) {
      const codes = (result.Entries ?? []).flatMap((e) => (e.ErrorCode ? [e.ErrorCode] : []));
      throw new RecorderPublishError(
        `EventBridge refused ${result.FailedEntryCount} domain events: ${codes.join(", ")}`,
      );
    }
  }
  for (const batch of chunks(ticks, PUBLISH_BATCH)) {
    const result = await deps.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: deps.alertQueueUrl,
        Entries: batch.map((t, i) => ({ Id: String(i), MessageBody: JSON.stringify(t) })),
      }),
    );
    if (result.Failed?.length) {
      const codes = result.Failed.map((f) => f.Code);
      throw new RecorderPublishError(`SQS refused ${result.Failed.length} price ticks: ${codes.join(", ")}`);
    }
  }
}

function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof TransactionCanceledException &&
    (err.CancellationReasons ?? []).some((r) => r.Code === "ConditionalCheckFailed" || r.Code === "TransactionConflict")
  );
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
