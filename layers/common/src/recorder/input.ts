// What the Record and RecordRejection states pass the recorder, parsed once at the edge.
import * as z from "zod";
import {
  CommandResultSchema,
  EnrichmentSchema,
  EventEnvelopeSchema,
  idsOf,
  parseRejectionCause,
  type Rejection,
  ValidatedEventSchema,
} from "../contracts";

/** The input is not a state the workflow produces. Not retried: the execution goes to the failed-executions queue. */
export class RecordInputInvalid extends Error {
  override readonly name = "RecordInputInvalid";
}

// Step Functions caps a state's input at 256 KiB.
const MAX_INPUT_BYTES = 256 * 1024;

const ProcessedSchema = z.object({
  validated: z.intersection(ValidatedEventSchema, z.object({ match: CommandResultSchema.optional() })),
  enrichment: EnrichmentSchema,
});

const RecordStateSchema = EventEnvelopeSchema.extend({ processed: ProcessedSchema });

const RejectionStateSchema = z.object({
  rejection: z.object({ Error: z.literal("ValidationRejected"), Cause: z.string().max(MAX_INPUT_BYTES) }),
});

export type Envelope = z.infer<typeof EventEnvelopeSchema>;
export type ProcessedEvent = z.infer<typeof ProcessedSchema>;

export type RecordInput =
  | { readonly kind: "PROCESSED"; readonly envelope: Envelope; readonly processed: ProcessedEvent }
  | {
      readonly kind: "REJECTED";
      /** The rejected event as it arrived: it may be anything, which is why it was rejected. */
      readonly event: Readonly<Record<string, unknown>>;
      readonly rejection: Rejection;
    };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

export function parseRecordInput(raw: unknown): RecordInput {
  if (!isObject(raw)) throw new RecordInputInvalid("the recorder's input must be a JSON object");
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(raw));
  } catch {
    throw new RecordInputInvalid("the recorder's input is not serializable as JSON");
  }
  if (size > MAX_INPUT_BYTES)
    throw new RecordInputInvalid(`the recorder's input is ${size} bytes, over ${MAX_INPUT_BYTES}`);

  if ("rejection" in raw) {
    const parsed = RejectionStateSchema.safeParse(raw);
    if (!parsed.success) throw new RecordInputInvalid(`not a RecordRejection state: ${issues(parsed.error)}`);
    const rejection = parseRejectionCause(parsed.data.rejection.Cause);
    if (!rejection) throw new RecordInputInvalid("the rejection's Cause is not a ValidationRejected message");
    const { rejection: _, ...event } = raw;
    return { kind: "REJECTED", event, rejection };
  }

  const parsed = RecordStateSchema.safeParse(raw);
  if (!parsed.success) throw new RecordInputInvalid(`not a Record state: ${issues(parsed.error)}`);
  const { processed, ...envelope } = parsed.data;
  const problem = inconsistency(envelope, processed);
  if (problem) throw new RecordInputInvalid(problem);
  return { kind: "PROCESSED", envelope, processed };
}

/** What the schemas cannot see: the parts of one state must describe the same event, order and symbol. */
function inconsistency(envelope: Envelope, { validated }: ProcessedEvent): string | undefined {
  if (validated.eventId !== envelope.id)
    return `validated.eventId ${validated.eventId} is not the event's id ${envelope.id}`;
  const { match } = validated;
  if (validated.kind === "TRADE") return match ? "a venue trade carries no match result" : undefined;
  if (!match) return `an ${validated.kind} needs the engine's match result`;
  const subject = idsOf(validated);
  if (match.orderId !== (subject.orderId ?? null) || match.symbol !== subject.symbol) {
    return `the match result is for ${match.symbol}/${match.orderId}, not ${subject.symbol}/${subject.orderId}`;
  }
  const cancels = validated.kind === "ORDER_CANCEL" || validated.kind === "ORDER_CANCEL_ALL";
  if (cancels && match.trades.length > 0) return "a cancel result carries no trades";
  if (match.order && (match.order.orderId !== match.orderId || match.order.symbol !== match.symbol)) {
    return `the match result's order state is for ${match.order.symbol}/${match.order.orderId}`;
  }
  const tradeIds = new Set<string>();
  for (const t of match.trades) {
    if (t.symbol !== match.symbol || t.takerOrderId !== match.orderId || t.takerClientId !== match.clientId) {
      return `trade ${t.tradeId} is not a fill of ${match.symbol}/${match.orderId}`;
    }
    if (t.makerOrderId === t.takerOrderId) return `trade ${t.tradeId} matches ${t.takerOrderId} with itself`;
    if (tradeIds.has(t.tradeId)) return `trade ${t.tradeId} appears twice in one match result`;
    tradeIds.add(t.tradeId);
  }
  const affected = new Map(match.affected.map((m) => [m.orderId, m]));
  if (affected.size !== match.affected.length) return "an order appears twice in one match result";
  if (match.orderId !== null && affected.has(match.orderId)) return "the command's own order is also in affected";
  for (const t of match.trades) {
    const maker = affected.get(t.makerOrderId);
    if (!maker || maker.symbol !== match.symbol || maker.clientId !== t.makerClientId) {
      return `trade ${t.tradeId}'s maker ${t.makerOrderId} has no state in the match result`;
    }
  }
  for (const o of match.affected) {
    const why =
      validated.kind === "ORDER_CANCEL_ALL"
        ? o.clientId === match.clientId && (match.symbol === null || o.symbol === match.symbol)
        : match.trades.some((t) => t.makerOrderId === o.orderId) ||
          match.selfTradePreventions.some((p) => p.restingOrderId === o.orderId);
    if (!why) return `the match result changes ${o.symbol}/${o.orderId} without a trade, prevention or mass cancel`;
  }
  return undefined;
}
