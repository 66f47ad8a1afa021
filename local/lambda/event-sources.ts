// The SQS event source mappings the template's functions declare (their Events of Type SQS), as the local stack
// runs them.
import type { SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import type { ProvisionedResources } from "../provision";
import { queueUrlByArn } from "../sqs/queues";
import type { FunctionHost } from "./host";
import { SqsEventSource } from "./sqs-event-source";

const SqsEvent = z.object({
  Queue: z.string(),
  BatchSize: z.coerce.number().int().positive().default(10),
  MaximumBatchingWindowInSeconds: z.coerce.number().int().min(0).default(0),
  FunctionResponseTypes: z.array(z.string()).default([]),
  ScalingConfig: z.object({ MaximumConcurrency: z.coerce.number().int() }).optional(),
  Enabled: z.boolean().default(true),
});

/** One enabled mapping per SQS event, not started. */
export function sqsEventSources(
  functions: FunctionHost,
  resources: ProvisionedResources,
  sqs: SQSClient,
  retryVisibilitySeconds: number | undefined,
): SqsEventSource[] {
  return functions.functions.flatMap((fn) =>
    Object.values(fn.events)
      .filter((event) => event.Type === "SQS")
      .map((event) => SqsEvent.parse(event.Properties))
      .filter((event) => event.Enabled)
      .map(
        (event) =>
          new SqsEventSource({
            sqs,
            queueUrl: queueUrlByArn(resources, event.Queue),
            queueArn: event.Queue,
            region: resources.region,
            batchSize: event.BatchSize,
            maximumBatchingWindowSeconds: event.MaximumBatchingWindowInSeconds,
            maximumConcurrency: event.ScalingConfig?.MaximumConcurrency ?? 1000,
            reportBatchItemFailures: event.FunctionResponseTypes.includes("ReportBatchItemFailures"),
            invoke: (batch) => functions.invoke(fn.logicalId, batch),
            ...(retryVisibilitySeconds !== undefined && { retryVisibilitySeconds }),
          }),
      ),
  );
}
