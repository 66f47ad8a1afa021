// EventBridge as the local stack runs it: PutEvents builds the envelope EventBridge would, the template's rules
// match it with their exact EventPatterns, and each target gets it with the rule's RetryPolicy (exponential
// backoff with full jitter, at most MaximumRetryAttempts retries, none past MaximumEventAgeInSeconds) and, when
// those run out, the rule's dead-letter queue with EventBridge's message attributes.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { entrySize, jsonDepthExceeds, MAX_JSON_DEPTH, PUT_EVENTS_MAX_BYTES, PUT_EVENTS_MAX_ENTRIES } from "../limits";
import { compileEventPattern } from "./event-pattern";

export interface EventEnvelope {
  readonly version: "0";
  readonly id: string;
  readonly "detail-type": string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: Record<string, unknown>;
}

export interface RuleTarget {
  readonly id: string;
  readonly arn: string;
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeSeconds: number;
  readonly deadLetterArn?: string;
  /** Delivers the event; a throw is a failed delivery, retried under the policy (its name is the ERROR_CODE). */
  readonly deliver: (event: EventEnvelope) => Promise<void>;
}

export interface LocalRule {
  readonly name: string;
  readonly arn: string;
  readonly eventPattern: unknown;
  readonly targets: readonly RuleTarget[];
}

export interface DeadLetter {
  readonly queueArn: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
}

export interface LocalEventBusOptions {
  readonly name: string;
  readonly arn: string;
  readonly region: string;
  readonly accountId: string;
  readonly rules: readonly LocalRule[];
  readonly sendToDeadLetterQueue: (letter: DeadLetter) => Promise<void>;
  /** The first retry's wait before jitter; EventBridge does not publish its own, so 1 s (tests shorten it). */
  readonly retryBaseDelayMs?: number;
}

export interface PutEventsResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

/** The counters EventBridge publishes to CloudWatch (AWS/Events), for this bus. */
export interface BusMetrics {
  MatchedEvents: number;
  Invocations: number;
  FailedInvocations: number;
  RetryInvocationAttempts: number;
  InvocationsSentToDlq: number;
  InvocationsFailedToBeSentToDlq: number;
}

export class EventBridgeError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

const PutEventsRequestEntry = z.object({
  Source: z.string().optional(),
  DetailType: z.string().optional(),
  Detail: z.string().optional(),
  EventBusName: z.string().optional(),
  Time: z.union([z.string(), z.number(), z.date()]).optional(),
  Resources: z.array(z.string()).optional(),
  TraceHeader: z.string().optional(),
});
export const PutEventsRequest = z.object({
  Entries: z.array(PutEventsRequestEntry),
  EndpointId: z.string().optional(),
});

const MAX_RETRY_DELAY_MS = 60_000;

function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function eventTime(time: string | number | Date | undefined): Date {
  if (time === undefined) return new Date();
  const date = typeof time === "number" ? new Date(time * 1000) : new Date(time);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

export class LocalEventBus {
  readonly metrics: BusMetrics = {
    MatchedEvents: 0,
    Invocations: 0,
    FailedInvocations: 0,
    RetryInvocationAttempts: 0,
    InvocationsSentToDlq: 0,
    InvocationsFailedToBeSentToDlq: 0,
  };
  private readonly rules: { rule: LocalRule; matches: (event: unknown) => boolean }[];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: LocalEventBusOptions) {
    this.rules = options.rules.map((rule) => ({ rule, matches: compileEventPattern(rule.eventPattern) }));
  }

  get name(): string {
    return this.options.name;
  }

  get ruleList(): readonly LocalRule[] {
    return this.options.rules;
  }

  get arn(): string {
    return this.options.arn;
  }

  get accountId(): string {
    return this.options.accountId;
  }

  /** Whether a request's EventBusName (a name or an ARN) names this bus. */
  isBus(nameOrArn: string): boolean {
    return nameOrArn === this.options.name || nameOrArn === this.options.arn;
  }

  /**
   * PutEvents: every entry gets an EventId or an error code, as the API returns them. A request with no entries,
   * more than 10, or entries over 256 KB in total (as AWS sizes them) is refused whole, with AWS's messages.
   */
  putEvents(request: unknown): { FailedEntryCount: number; Entries: PutEventsResultEntry[] } {
    const parsed = PutEventsRequest.safeParse(request);
    if (!parsed.success) throw new EventBridgeError("ValidationException", z.prettifyError(parsed.error));
    const { Entries } = parsed.data;
    const count = Entries.length;
    if (count < 1 || count > PUT_EVENTS_MAX_ENTRIES)
      throw new EventBridgeError(
        "ValidationException",
        `1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: Member must have length ${count < 1 ? "greater than or equal to 1" : `less than or equal to ${PUT_EVENTS_MAX_ENTRIES}`}`,
      );
    if (Entries.reduce((sum, entry) => sum + entrySize(entry), 0) > PUT_EVENTS_MAX_BYTES)
      throw new EventBridgeError("ValidationException", "Total size of the entries in the request is over the limit.");
    const results = Entries.map((entry) => this.putEntry(entry));
    return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
  }

  private putEntry(entry: z.infer<typeof PutEventsRequestEntry>): PutEventsResultEntry {
    const bus = entry.EventBusName ?? "default";
    if (!this.isBus(bus) && bus !== "default")
      return { ErrorCode: "ResourceNotFoundException", ErrorMessage: `Event bus ${bus} does not exist.` };
    if (!entry.Source || !entry.DetailType || entry.Detail === undefined)
      return { ErrorCode: "InvalidArgument", ErrorMessage: "Parameters Source, DetailType and Detail are required." };
    // Checked before parsing: a detail nested deeper than the envelope's consumers can serialize must never be accepted.
    if (jsonDepthExceeds(entry.Detail, MAX_JSON_DEPTH))
      return { ErrorCode: "MalformedDetail", ErrorMessage: `Detail is nested deeper than ${MAX_JSON_DEPTH} levels.` };
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
    }
    if (typeof detail !== "object" || detail === null || Array.isArray(detail))
      return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
    const event: EventEnvelope = {
      version: "0",
      id: randomUUID(),
      "detail-type": entry.DetailType,
      source: entry.Source,
      account: this.options.accountId,
      time: isoSeconds(eventTime(entry.Time)),
      region: this.options.region,
      resources: entry.Resources ?? [],
      detail: detail as Record<string, unknown>,
    };
    // The default bus has none of the template's rules: its events are accepted and go nowhere.
    if (bus !== "default") this.route(event);
    return { EventId: event.id };
  }

  /** Hands an event to every matching rule's targets, as if it had been put on this bus. */
  route(event: EventEnvelope): void {
    for (const { rule, matches } of this.rules) {
      if (!matches(event)) continue;
      this.metrics.MatchedEvents += 1;
      for (const target of rule.targets) this.deliver(rule, target, event, 0, Date.now());
    }
  }

  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Resolves once every accepted event has been delivered, dead-lettered or dropped. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private deliver(rule: LocalRule, target: RuleTarget, event: EventEnvelope, attempt: number, firstTry: number): void {
    this.inFlight += 1;
    this.metrics.Invocations += 1;
    if (attempt > 0) this.metrics.RetryInvocationAttempts += 1;
    target
      .deliver(event)
      .then(
        () => undefined,
        async (err: unknown) => {
          const base = this.options.retryBaseDelayMs ?? 1000;
          const delay = Math.random() * Math.min(MAX_RETRY_DELAY_MS, base * 2 ** attempt);
          const ageExhausted = Date.now() + delay - firstTry > target.maximumEventAgeSeconds * 1000;
          if (attempt < target.maximumRetryAttempts && !ageExhausted) {
            this.inFlight += 1;
            const timer = setTimeout(() => {
              this.timers.delete(timer);
              this.inFlight -= 1;
              this.deliver(rule, target, event, attempt + 1, firstTry);
            }, delay);
            this.timers.add(timer);
            return;
          }
          this.metrics.FailedInvocations += 1;
          await this.deadLetter(rule, target, event, err, attempt, ageExhausted);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  private async deadLetter(
    rule: LocalRule,
    target: RuleTarget,
    event: EventEnvelope,
    err: unknown,
    retries: number,
    ageExhausted: boolean,
  ): Promise<void> {
    if (!target.deadLetterArn) return;
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      await this.options.sendToDeadLetterQueue({
        queueArn: target.deadLetterArn,
        body: JSON.stringify(event),
        attributes: {
          RULE_ARN: rule.arn,
          TARGET_ARN: target.arn,
          ERROR_CODE: error.name,
          ERROR_MESSAGE: error.message.slice(0, 1024),
          EXHAUSTED_RETRY_CONDITION: ageExhausted ? "MaximumEventAgeExhausted" : "MaximumRetryAttemptsExhausted",
          RETRY_ATTEMPTS: String(retries),
        },
      });
      this.metrics.InvocationsSentToDlq += 1;
    } catch (dlqError) {
      this.metrics.InvocationsFailedToBeSentToDlq += 1;
      process.stderr.write(`event ${event.id}: the dead-letter queue refused it: ${String(dlqError)}\n`);
    }
  }
}
