import { ConditionalCheckFailedException, ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { ParameterNotFound } from "@aws-sdk/client-ssm";
import { ConfigurationError } from "../config";
import { ValidationRejected } from "../contracts";
import { asDependencyUnavailable, DependencyUnavailable } from "./dependency";

const metadata = { httpStatusCode: 400, attempts: 4, totalRetryDelay: 0 };

const withCode = (code: string, message: string) => Object.assign(new Error(message), { code });

/** What the SDK throws for an error its model marks retryable: `$retryable`, throttling or not. */
const throttled = new ProvisionedThroughputExceededException({ message: "Rate exceeded", $metadata: metadata });

const serverError = Object.assign(new Error("We encountered an internal error"), {
  name: "InternalServerError",
  $fault: "server",
  $metadata: { ...metadata, httpStatusCode: 500 },
});

test.each([
  ["a refused connection", withCode("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:8000")],
  ["a reset connection", withCode("ECONNRESET", "read ECONNRESET")],
  ["a connect timeout", withCode("ETIMEDOUT", "connect ETIMEDOUT 10.0.0.1:443")],
  ["a hung-up socket", new Error("socket hang up")],
  ["a throttling error the SDK marks $retryable", throttled],
  ["a 5xx", serverError],
  ["a 429 without a modelled name", Object.assign(new Error("slow down"), { $metadata: { httpStatusCode: 429 } })],
  [
    "the SDK's request timeout",
    Object.assign(new Error("Connection timed out after 1000 ms"), { name: "TimeoutError" }),
  ],
  [
    "an AggregateError of refused connections (Node tries each address)",
    new AggregateError([withCode("ECONNREFUSED", "connect ECONNREFUSED ::1:8000")], "connect failed"),
  ],
])("%s becomes DependencyUnavailable with its message kept", (_, err) => {
  const thrown = asDependencyUnavailable(err);
  expect(thrown).toBeInstanceOf(DependencyUnavailable);
  expect(thrown).toMatchObject({ name: "DependencyUnavailable", message: err.message, cause: err });
});

test("a ConfigurationError whose SSM read was throttled is transient; a missing parameter is not", () => {
  const read = (cause: Error) =>
    new ConfigurationError(`SSM parameter /tradeflow/dev/instruments could not be read: ${cause.message}`, {
      cause: new Error(cause.message, { cause }),
    });
  const unreadable = read(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $retryable: {} }));
  expect(asDependencyUnavailable(unreadable)).toMatchObject({
    name: "DependencyUnavailable",
    message: unreadable.message,
  });
  const missing = read(new ParameterNotFound({ message: "not found", $metadata: metadata }));
  expect(asDependencyUnavailable(missing)).toBe(missing);
  const invalid = new ConfigurationError("SSM parameter /tradeflow/dev/instruments is not JSON");
  expect(asDependencyUnavailable(invalid)).toBe(invalid);
});

test("errors no retry fixes, and the ones the state machine knows by name, pass unchanged", () => {
  const named = Object.assign(new Error("publishing after the record failed: Rate exceeded", { cause: throttled }), {
    name: "RecorderPublishError",
  });
  const unchanged = [
    new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: metadata }),
    new ValidationRejected([{ reason: "NOT_AN_EVENT", path: "", text: "expected an object, got a string" }]),
    named,
    Object.assign(new Error("redis unavailable: connect ECONNREFUSED", { cause: withCode("ECONNREFUSED", "x") }), {
      name: "MatcherUnavailableError",
    }),
    new TypeError("Cannot read properties of undefined"),
  ];
  for (const err of unchanged) expect(asDependencyUnavailable(err)).toBe(err);
  expect(asDependencyUnavailable("a string")).toBe("a string");
});

test("a cause chain that loops ends", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  Object.assign(a, { cause: b });
  expect(asDependencyUnavailable(a)).toBe(a);
});
