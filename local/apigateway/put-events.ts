// The EventBridge-PutEvents integration of HTTP APIs: one entry whose fields are the integration's
// requestParameters mapped from the request, put on the local bus; the answer is PutEvents' own JSON (a failed entry
// is still 200, with FailedEntryCount and the entry's ErrorCode, as EventBridge answers), to which the API then
// applies the integration's responseParameters.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-aws-services-reference.html
import { z } from "zod";
import { EventBridgeError, type LocalEventBus } from "../events/bus";
import { type HttpAnswer, type Lookup, mapValue, type ResponseParameters } from "./mapping";

/**
 * The integration subtype's parameters. Region is accepted and ignored (the stack has one region); Resources is not
 * taken, since how API Gateway splits one mapped string into PutEvents' list is not documented.
 */
export const PutEventsParameters = z
  .object({
    Detail: z.string(),
    DetailType: z.string(),
    Source: z.string(),
    Time: z.string().optional(),
    EventBusName: z.string().optional(),
    Region: z.string().optional(),
    TraceHeader: z.string().optional(),
  })
  .strict();
export type PutEventsParameters = z.infer<typeof PutEventsParameters>;

export interface PutEventsIntegration {
  readonly kind: "putEvents";
  readonly requestParameters: PutEventsParameters;
  readonly responseParameters: ResponseParameters;
}

const jsonAnswer = (status: number, body: unknown): HttpAnswer => ({
  status,
  headers: { "content-type": "application/json" },
  body: Buffer.from(JSON.stringify(body)),
});

/** PutEvents with the mapped entry; a request EventBridge refuses whole is its 400 and error JSON. */
export function putEventsAnswer(
  parameters: PutEventsParameters,
  bus: Pick<LocalEventBus, "putEvents">,
  request: Lookup,
  context: Lookup,
): HttpAnswer {
  const lookup: Lookup = (name) =>
    name.startsWith("context.") ? context(name.slice("context.".length)) : request(name);
  const { Region: _, ...entry } = parameters;
  const mapped = Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, mapValue(value, lookup)]));
  try {
    return jsonAnswer(200, bus.putEvents({ Entries: [mapped] }));
  } catch (err) {
    if (!(err instanceof EventBridgeError)) throw err;
    return jsonAnswer(400, { __type: err.name, message: err.message });
  }
}
