// Threshold alerts from price ticks, exactly once per crossing in AlertsTable and at least once on SNS.
//
// Per symbol, the item SYMBOL#<symbol>/STATE holds the zone of the newest tick seen (trade-time order).
// A tick newer than the state moves it with an optimistic lock on the state it read; when the zone changes
// the same transaction puts the alert item (an outbox row, published=false). Only then is the alert published
// and marked published. So: an older or repeated tick never alerts; two concurrent deliveries cannot both win
// the lock; and an alert whose publish failed is published by the tick's redelivery (SQS retries the item),
// which finds the unpublished alert under the tick's own key. The only duplicate SNS message is a crash
// between Publish and the publishedAt mark: bounded by the queue's maxReceiveCount, and `alertId` is stable.
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import type { ClockSkew } from "../config/clock";
import { type AlertThresholds, type Crossing, crossing, thresholdsFor, ZONES } from "./crossing";
import { isFromFuture, type PriceTick, tickKey } from "./tick";

export interface AlerterDeps {
  readonly db: DynamoDBDocumentClient;
  readonly sns: SNSClient;
  readonly tableName: string;
  readonly topicArn: string;
  readonly thresholds: AlertThresholds;
  readonly clockSkew: ClockSkew;
  readonly ttlDays: number;
  /** How long an unpublished alert belongs to the invocation that wrote it (at least the function timeout). */
  readonly publishGraceMs: number;
  readonly now: () => number;
}

/**
 * ALERTED and REPUBLISHED published an alert; IGNORED means an older or already applied tick; FROM_FUTURE a tick
 * dated beyond the clock skew, which is dropped without reading or writing anything.
 */
export type TickOutcome = "ALERTED" | "REPUBLISHED" | "UNCHANGED" | "IGNORED" | "FROM_FUTURE";

/** The alert for this tick is written but its writer may still be publishing it: retry the item later. */
export class AlertPublishPending extends Error {
  override readonly name = "AlertPublishPending";
}

/** The symbol's state kept changing under us; the item fails and SQS redelivers it. */
export class AlertStateContention extends Error {
  override readonly name = "AlertStateContention";
}

const MAX_LOCK_ATTEMPTS = 5;

const StateItemSchema = z.object({ zone: z.enum(ZONES), tickKey: z.string() });

const AlertItemSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  alertId: z.string(),
  symbol: z.string(),
  direction: z.enum(["UP", "DOWN"]),
  fromZone: z.enum(ZONES),
  toZone: z.enum(ZONES),
  threshold: z.string(),
  price: z.string(),
  tradeId: z.string(),
  sequence: z.number().optional(),
  tradeTime: z.string(),
  source: z.string(),
  createdAt: z.number(),
  publishedAt: z.number().optional(),
  expiresAt: z.number(),
});

export type AlertItem = z.infer<typeof AlertItemSchema>;

export function alertKey(tick: PriceTick): { pk: string; sk: string } {
  return { pk: `SYMBOL#${tick.symbol}`, sk: `ALERT#${new Date(tick.timestamp).toISOString()}#${tick.tradeId}` };
}

function stateKey(symbol: string): { pk: string; sk: string } {
  return { pk: `SYMBOL#${symbol}`, sk: "STATE" };
}

export async function processTick(tick: PriceTick, deps: AlerterDeps): Promise<TickOutcome> {
  if (isFromFuture(tick, deps.now(), deps.clockSkew)) return "FROM_FUTURE";
  const key = tickKey(tick);
  for (let attempt = 0; attempt < MAX_LOCK_ATTEMPTS; attempt++) {
    const { Item } = await deps.db.send(
      new GetCommand({ TableName: deps.tableName, Key: stateKey(tick.symbol), ConsistentRead: true }),
    );
    const state = Item ? StateItemSchema.parse(Item) : undefined;
    if (state && state.tickKey >= key) return finishPendingAlert(tick, deps);

    const change = crossing(state?.zone ?? "BETWEEN", tick.price, thresholdsFor(deps.thresholds, tick.symbol));
    const nextState = {
      TableName: deps.tableName,
      Item: {
        ...stateKey(tick.symbol),
        zone: change?.to ?? state?.zone ?? "BETWEEN",
        tickKey: key,
        lastTradeId: tick.tradeId,
        lastTimestamp: tick.timestamp,
        lastPrice: tick.price,
        updatedAt: deps.now(),
      },
      ...(state
        ? { ConditionExpression: "tickKey = :seen", ExpressionAttributeValues: { ":seen": state.tickKey } }
        : { ConditionExpression: "attribute_not_exists(pk)" }),
    };
    const alert = change ? alertItem(tick, change, deps) : undefined;
    try {
      if (!alert) {
        await deps.db.send(new PutCommand(nextState));
        return "UNCHANGED";
      }
      await deps.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: nextState },
            { Put: { TableName: deps.tableName, Item: alert, ConditionExpression: "attribute_not_exists(pk)" } },
          ],
        }),
      );
    } catch (err) {
      if (isLockConflict(err)) continue;
      throw err;
    }
    await publishAlert(alert, deps);
    return "ALERTED";
  }
  throw new AlertStateContention(
    `state of ${tick.symbol} changed ${MAX_LOCK_ATTEMPTS} times while applying ${tick.tradeId}`,
  );
}

/** A tick the state has already passed: publish its alert if one was written and never published. */
async function finishPendingAlert(tick: PriceTick, deps: AlerterDeps): Promise<TickOutcome> {
  const { Item } = await deps.db.send(
    new GetCommand({ TableName: deps.tableName, Key: alertKey(tick), ConsistentRead: true }),
  );
  if (!Item) return "IGNORED";
  const alert = AlertItemSchema.parse(Item);
  if (alert.publishedAt !== undefined) return "IGNORED";
  if (deps.now() - alert.createdAt < deps.publishGraceMs) {
    throw new AlertPublishPending(`alert ${alert.alertId} is still being published by its writer`);
  }
  await publishAlert(alert, deps);
  return "REPUBLISHED";
}

function alertItem(tick: PriceTick, change: Crossing, deps: AlerterDeps): AlertItem {
  const key = alertKey(tick);
  const now = deps.now();
  return {
    ...key,
    alertId: `${tick.symbol}/${tick.tradeId}`,
    symbol: tick.symbol,
    direction: change.direction,
    fromZone: change.from,
    toZone: change.to,
    threshold: change.threshold,
    price: tick.price,
    tradeId: tick.tradeId,
    ...(tick.sequence === undefined ? {} : { sequence: tick.sequence }),
    tradeTime: new Date(tick.timestamp).toISOString(),
    source: tick.source,
    createdAt: now,
    expiresAt: Math.floor(now / 1000) + deps.ttlDays * 86_400,
  };
}

async function publishAlert(alert: AlertItem, deps: AlerterDeps): Promise<void> {
  const { pk: _pk, sk: _sk, createdAt: _c, publishedAt: _p, expiresAt: _e, ...message } = alert;
  await deps.sns.send(
    new PublishCommand({
      TopicArn: deps.topicArn,
      Subject: `Price alert ${alert.symbol} ${alert.direction} ${alert.threshold}`,
      Message: JSON.stringify(message),
      MessageAttributes: {
        alertId: { DataType: "String", StringValue: alert.alertId },
        symbol: { DataType: "String", StringValue: alert.symbol },
        direction: { DataType: "String", StringValue: alert.direction },
        zone: { DataType: "String", StringValue: alert.toZone },
        threshold: { DataType: "Number", StringValue: alert.threshold },
      },
    }),
  );
  try {
    await deps.db.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { pk: alert.pk, sk: alert.sk },
        UpdateExpression: "SET publishedAt = :now",
        ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(publishedAt)",
        ExpressionAttributeValues: { ":now": deps.now() },
      }),
    );
  } catch (err) {
    // Another delivery of the same tick marked it first: the alert is published either way.
    if (!isLockConflict(err)) throw err;
  }
}

function isLockConflict(err: unknown): boolean {
  if (err instanceof ConditionalCheckFailedException) return true;
  return (
    err instanceof TransactionCanceledException &&
    (err.CancellationReasons ?? []).some((r) => r.Code === "ConditionalCheckFailed" || r.Code === "TransactionConflict")
  );
}
