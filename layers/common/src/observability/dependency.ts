// What a retry can fix. Every handler's failure passes through withObservability, which rethrows a transient one as
// DependencyUnavailable: the one name the state machine retries for any dependency (AWS APIs, the network).

/**
 * A dependency failed in a way a later attempt may not: an AWS API throttled or answered 5xx, a request timed out,
 * a connection was refused or dropped. Its message is the original error's, its `cause` the original error.
 */
export class DependencyUnavailable extends Error {
  override readonly name = "DependencyUnavailable";
}

/** Errors the state machine already handles by their own name: never renamed. */
const NAMED = new Set([
  "DependencyUnavailable",
  "MatcherUnavailableError",
  "RecorderPublishError",
  "ValidationRejected",
]);

// Node's system error codes for a connection that could not be made or was lost.
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

// The AWS SDK's names for throttling and timeouts that its modelled `$retryable` and 5xx checks do not cover.
const TRANSIENT_NAMES = new Set([
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
]);

interface Failure {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly $retryable?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  readonly errors?: unknown;
  readonly cause?: unknown;
}

const isFailure = (value: unknown): value is Failure => typeof value === "object" && value !== null;

function isTransient(err: Failure): boolean {
  const status = err.$metadata?.httpStatusCode;
  return (
    err.$retryable !== undefined ||
    err.$fault === "server" ||
    (typeof status === "number" && (status >= 500 || status === 429)) ||
    TRANSIENT_NAMES.has(String(err.name)) ||
    NETWORK_CODES.has(String(err.code)) ||
    /socket hang up/i.test(String(err.message))
  );
}

/** The error, what it wraps (`cause`, an AggregateError's `errors`), and so on: a bounded walk, cycles and all. */
function* chain(err: unknown, depth = 0): Generator<Failure> {
  if (!isFailure(err) || depth > 5) return;
  yield err;
  if (Array.isArray(err.errors)) for (const inner of err.errors) yield* chain(inner, depth + 1);
  yield* chain(err.cause, depth + 1);
}

/**
 * DependencyUnavailable for a transient failure: the error itself or anything it wraps (a ConfigurationError whose
 * SSM read was throttled, an SDK error after the SDK's own retries, a dropped socket). Any other error, and the ones
 * the state machine already knows by name, are returned as they are.
 */
export function asDependencyUnavailable(err: unknown): unknown {
  if (!(err instanceof Error) || NAMED.has(err.name)) return err;
  for (const failure of chain(err)) {
    if (isTransient(failure)) return new DependencyUnavailable(err.message, { cause: err });
  }
  return err;
}
