// The one error the state machine catches by name to record a rejection instead of failing the execution.
import * as z from "zod";
import { isReasonCode, type ReasonCode } from "./reasons";

/** One thing wrong with an event: a stable code, and where and why in words. */
export interface Violation {
  readonly reason: ReasonCode;
  /** Dotted path of the offending field, e.g. "detail.price"; empty for the event as a whole. */
  readonly path: string;
  readonly text: string;
}

/** What the recorder gets back from a Step Functions Cause. */
export interface Rejection {
  readonly reasons: readonly ReasonCode[];
  readonly message: string;
}

// A Step Functions Cause holds at most 32 KiB; a few findings are enough to act on.
const MAX_LISTED_VIOLATIONS = 10;

export function describeViolations(violations: readonly Violation[]): string {
  const listed = violations.slice(0, MAX_LISTED_VIOLATIONS).map((v) => (v.path ? `${v.path}: ${v.text}` : v.text));
  const more = violations.length - listed.length;
  return more > 0 ? `${listed.join("; ")}; and ${more} more` : listed.join("; ");
}

/**
 * Thrown for every event that must not proceed. Its `message` is the JSON string
 * {"reasons":[...],"message":"..."}, which is what reaches the recorder inside the Step Functions Cause.
 */
export class ValidationRejected extends Error {
  override readonly name = "ValidationRejected";
  readonly reasons: readonly ReasonCode[];
  readonly explanation: string;

  constructor(violations: readonly Violation[]) {
    if (violations.length === 0) throw new TypeError("a rejection needs at least one violation");
    const reasons = [...new Set(violations.map((v) => v.reason))];
    const explanation = describeViolations(violations);
    super(JSON.stringify({ reasons, message: explanation }));
    this.reasons = reasons;
    this.explanation = explanation;
  }
}

const RejectionMessageSchema = z.object({
  reasons: z.array(z.string().refine(isReasonCode)).min(1),
  message: z.string(),
});

const LambdaErrorSchema = z.object({ errorType: z.literal("ValidationRejected"), errorMessage: z.string() });

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads a ValidationRejected back from a Step Functions Cause: either the Lambda error JSON
 * {"errorType":"ValidationRejected","errorMessage":"{\"reasons\":...}"} or the bare message JSON.
 * Null when the cause is neither.
 */
export function parseRejectionCause(cause: string): Rejection | null {
  const outer = parseJson(cause);
  const wrapped = LambdaErrorSchema.safeParse(outer);
  const inner = RejectionMessageSchema.safeParse(wrapped.success ? parseJson(wrapped.data.errorMessage) : outer);
  if (!inner.success) return null;
  return { reasons: inner.data.reasons.filter(isReasonCode), message: inner.data.message };
}
