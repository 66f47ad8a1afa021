// SQS price ticks -> threshold alerts (AlertsTable + AlertTopic). Partial batch responses: a failed tick fails
// only its own item, and SQS redrives it to the dead-letter queue after maxReceiveCount receives.
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import {
  type AlerterDeps,
  AlertThresholdsSchema,
  parsePriceTick,
  processTick,
  type TickOutcome,
  tickKey,
} from "@tradeflow/common/alerts";
import { ClockSkewSchema, loadConfig } from "@tradeflow/common/config";
import { logger, MetricUnit, metrics, tracer, withObservability } from "@tradeflow/common/observability";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import * as z from "zod";

const env = z
  .object({
    ALERTS_TABLE: z.string().min(1),
    ALERT_TOPIC_ARN: z.string().startsWith("arn:"),
    ALERT_TTL_DAYS: z.coerce.number().int().positive().default(90),
  })
  .parse(process.env);

// Transient errors (throttling, 5xx, timeouts): exponential backoff with full jitter inside the SDK.
const retry = { maxAttempts: 4, retryMode: "standard" } as const;
const db = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient(retry)));
const sns = tracer.captureAWSv3Client(new SNSClient(retry));
const processor = new BatchProcessor(EventType.SQS);

// Longer than the function's Timeout: an unpublished alert younger than this may still be in its writer's hands.
const PUBLISH_GRACE_MS = 120_000;

export const handler = withObservability(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const [thresholds, clockSkew] = await Promise.all([
    loadConfig("alert-thresholds", AlertThresholdsSchema),
    loadConfig("clock-skew", ClockSkewSchema),
  ]);
  const deps: AlerterDeps = {
    db,
    sns,
    tableName: env.ALERTS_TABLE,
    topicArn: env.ALERT_TOPIC_ARN,
    thresholds,
    clockSkew,
    ttlDays: env.ALERT_TTL_DAYS,
    publishGraceMs: PUBLISH_GRACE_MS,
    now: Date.now,
  };
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    let outcome: TickOutcome;
    try {
      outcome = await processTick(parsePriceTick(record.body), deps);
    } catch (err) {
      logger.error("tick failed", { messageId: record.messageId, error: err });
      throw err;
    }
    metrics.addMetric("TicksProcessed", MetricUnit.Count, 1);
    if (outcome === "FROM_FUTURE") {
      // Acknowledged, not failed: a redrive from the DLQ must not apply it once its time has come.
      logger.warn("tick from the future dropped", { messageId: record.messageId, tick: record.body });
      metrics.addMetric("TicksFromFuture", MetricUnit.Count, 1);
    }
    if (outcome === "IGNORED") metrics.addMetric("TicksIgnored", MetricUnit.Count, 1);
    if (outcome === "ALERTED" || outcome === "REPUBLISHED") metrics.addMetric("AlertsPublished", MetricUnit.Count, 1);
  };
  // One tick at a time, oldest first, so crossings inside a batch are seen in trade-time order.
  return processPartialResponse({ Records: inTradeTimeOrder(event.Records) }, recordHandler, processor, {
    context,
    processInParallel: false,
    throwOnFullBatchFailure: false,
  });
});

function inTradeTimeOrder(records: SQSRecord[]): SQSRecord[] {
  const keyOf = (record: SQSRecord): string => {
    try {
      return tickKey(parsePriceTick(record.body));
    } catch {
      return "";
    }
  };
  const keyed = records.map((record) => ({ record, key: keyOf(record) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.record);
}
