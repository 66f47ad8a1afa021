// The Record and RecordRejection states: plan, append, publish. No read before a write, no transaction, no retry
// loop: facts are put where their keys are free, order states over older versions, all at once; a replay finds
// everything in place and writes nothing. Then domain events and price ticks are published, in parallel.
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { PriceTick } from "../alerts/tick";
import { type RecordOutcome, type RecordSummary, VenueTradeDecisionSchema } from "../contracts";
import { parseRecordInput } from "./input";
import {
  COMPLIANCE_SOURCE,
  conflictFact,
  type DomainEvent,
  type ItemKey,
  planRecord,
  type RecordPlan,
  rejectedEvent,
} from "./plan";
import { ComplianceTable } from "./table";

export interface RecorderDeps {
  readonly db: DynamoDBDocumentClient;
  readonly events: EventBridgeClient;
  readonly sqs: SQSClient;
  readonly tableName: string;
  readonly busName: string;
  readonly alertQueueUrl: string;
  readonly now: () => Date;
}

/** EventBridge or SQS refused or failed part of what follows the write. Retryable: a retry re-publishes. */
export class RecorderPublishError extends Error {
  override readonly name = "RecorderPublishError";
}

const PUBLISH_BATCH = 10;

export async function recordExecution(raw: unknown, deps: RecorderDeps): Promise<RecordSummary> {
  const input = parseRecordInput(raw);
  const table = new ComplianceTable(deps.db, deps.tableName, deps.now);
  let plan = planRecord(input);
  let written = 0;
  let duplicates = 0;

  if (plan.receipt) {
    const receipt = await table.putFact(plan.receipt);
    if (receipt.status === "CONFLICT") return conflict(plan, [plan.receipt.key], table, deps);
    if (receipt.status === "WRITTEN") written++;
    else {
      duplicates++;
      const first = VenueTradeDecisionSchema.safeParse(parseJson(receipt.stored.decision));
      if (first.success && input.kind === "PROCESSED") plan = planRecord(input, first.data);
    }
  }

  const facts = await settled(plan.facts.map((f) => table.putFact(f)));
  const clashes = plan.facts.filter((_, i) => facts[i]?.status === "CONFLICT").map((f) => f.key);
  if (clashes.length > 0) return conflict(plan, clashes, table, deps);
  const states = await settled(plan.states.map((s) => table.putState(s)));
  const stateClashes = plan.states.filter((_, i) => states[i]?.status === "CONFLICT").map((s) => s.key);
  if (stateClashes.length > 0) return conflict(plan, stateClashes, table, deps);

  for (const outcome of [...facts, ...states]) {
    if (outcome.status === "WRITTEN") written++;
    else duplicates++;
  }
  await publish(plan.events, plan.ticks, deps);
  const outcome: RecordOutcome = written > 0 ? "RECORDED" : "DUPLICATE";
  const published = plan.events.length;
  return summary(plan, outcome, { written, duplicates, conflicts: [], published, ticks: plan.ticks.length, table });
}

/** Someone reused a key for other content: a conflict record beside the event, and nothing more of it. */
async function conflict(
  plan: RecordPlan,
  keys: readonly ItemKey[],
  table: ComplianceTable,
  deps: RecorderDeps,
): Promise<RecordSummary> {
  const fact = conflictFact(plan.subject, keys);
  const written = (await table.putFact(fact)).status === "WRITTEN" ? 1 : 0;
  const message = String(fact.item.message);
  await publish([rejectedEvent(plan.subject, "RECORDER", ["DUPLICATE_ID_CONFLICT"], message)], [], deps);
  const conflicts = keys.map((k) => `${k.pk}/${k.sk}`);
  return summary(plan, "CONFLICT", { written, duplicates: 0, conflicts, published: 1, ticks: 0, table });
}

function summary(
  plan: RecordPlan,
  outcome: RecordOutcome,
  r: {
    written: number;
    duplicates: number;
    conflicts: string[];
    published: number;
    ticks: number;
    table: ComplianceTable;
  },
): RecordSummary {
  return {
    outcome,
    eventId: plan.subject.eventId,
    written: r.written,
    duplicates: r.duplicates,
    conflicts: r.conflicts,
    published: r.published,
    ticks: r.ticks,
    dynamoCalls: r.table.calls,
    counts: plan.counts,
  };
}

/** Domain events to the bus and price ticks to the alert queue, ten per call, all calls at once. */
async function publish(events: readonly DomainEvent[], ticks: readonly PriceTick[], deps: RecorderDeps): Promise<void> {
  const sent = await Promise.allSettled([
    ...chunks(events, PUBLISH_BATCH).map((batch) => putEvents(batch, deps)),
    ...chunks(ticks, PUBLISH_BATCH).map((batch) => sendTicks(batch, deps)),
  ]);
  const failures = sent.flatMap((s) => (s.status === "rejected" ? [s.reason] : []));
  if (failures.length > 0) {
    const detail = failures.map((f) => (f instanceof Error ? `${f.name}: ${f.message}` : String(f))).join("; ");
    throw new RecorderPublishError(`publishing after the record failed: ${detail}`, { cause: failures[0] });
  }
}

async function putEvents(batch: readonly DomainEvent[], deps: RecorderDeps): Promise<void> {
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
    throw new Error(`EventBridge refused ${result.FailedEntryCount} domain events: ${codes.join(", ")}`);
  }
}

async function sendTicks(batch: readonly PriceTick[], deps: RecorderDeps): Promise<void> {
  const result = await deps.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: deps.alertQueueUrl,
      Entries: batch.map((t, i) => ({ Id: String(i), MessageBody: JSON.stringify(t) })),
    }),
  );
  if (result.Failed?.length) {
    const codes = result.Failed.map((f) => f.Code);
    throw new Error(`SQS refused ${result.Failed.length} price ticks: ${codes.join(", ")}`);
  }
}

/** Like Promise.all, but a failure is raised only once every request has ended: none is left in flight. */
async function settled<T>(calls: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
