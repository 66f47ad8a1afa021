// Record and RecordRejection states: the whole workflow state in, a RecordSummary out ($.recorded).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { correlationIds, type RecordSummary } from "@tradeflow/common/contracts";
import { logger, MetricUnit, metrics, tracer, withObservability } from "@tradeflow/common/observability";
import { recordExecution } from "@tradeflow/common/recorder";
import * as z from "zod";

const env = z
  .object({ COMPLIANCE_TABLE: z.string().min(1), EVENT_BUS_NAME: z.string().min(1), ALERT_QUEUE_URL: z.url() })
  .parse(process.env);

// Transient errors (throttling, 5xx, timeouts): exponential backoff with full jitter inside the SDK.
const retry = { maxAttempts: 4, retryMode: "standard" } as const;
const db = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient(retry)));
const events = tracer.captureAWSv3Client(new EventBridgeClient(retry));
const sqs = tracer.captureAWSv3Client(new SQSClient(retry));

export const handler = withObservability(async (event: unknown): Promise<RecordSummary> => {
  logger.appendKeys(correlationIds(event));
  try {
    const recorded = await recordExecution(event, {
      db,
      events,
      sqs,
      tableName: env.COMPLIANCE_TABLE,
      busName: env.EVENT_BUS_NAME,
      alertQueueUrl: env.ALERT_QUEUE_URL,
      now: () => new Date(),
    });
    if (recorded.outcome === "RECORDED") {
      metrics.addMetric("OrdersRecorded", MetricUnit.Count, recorded.counts.orders);
      metrics.addMetric("TradesRecorded", MetricUnit.Count, recorded.counts.trades);
      metrics.addMetric("RejectionsRecorded", MetricUnit.Count, recorded.counts.rejections);
    }
    if (recorded.outcome === "CONFLICT") metrics.addMetric("RejectionsRecorded", MetricUnit.Count, 1);
    metrics.addMetric("DuplicatesSkipped", MetricUnit.Count, recorded.duplicates);
    metrics.addMetric("DynamoDBRequests", MetricUnit.Count, recorded.dynamoCalls);
    logger.info("recorded", { ...recorded });
    return recorded;
  } catch (err) {
    logger.error("recording failed", { error: err });
    throw err;
  }
});
