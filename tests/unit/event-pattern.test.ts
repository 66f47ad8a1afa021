// local/events/event-pattern.ts: EventBridge content filtering, on the AWS documentation's examples (the user guide and
// aws/event-ruler's README), the template's two rules against real-looking envelopes, refused patterns, and properties.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { z } from "zod";
import { API_SOURCE, EVENT_ROUTES, ORDER_SOURCE } from "../../layers/common/src/contracts";
import { compileEventPattern, InvalidEventPatternError } from "../../local/events/event-pattern";
import { loadTemplate, templateFile } from "../../local/template";
import { cancelEvent, envelope, orderEvent, tradeEvent } from "../support/test-events";

const matches = (pattern: unknown, event: unknown): boolean => compileEventPattern(pattern)(event);

/** The event of aws/event-ruler's README (and the user guide's content-filtering page). */
const EC2_EVENT = {
  version: "0",
  id: "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  source: "aws.ec2",
  account: "012345679012",
  time: "2017-10-02T16:24:49Z",
  region: "us-east-1",
  resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  detail: {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    state: "running",
  },
};

/** EC2_EVENT with detail fields changed (undefined removes one). */
function ec2(detail: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...EC2_EVENT.detail, ...detail };
  for (const [key, value] of Object.entries(detail)) if (value === undefined) delete merged[key];
  return { ...EC2_EVENT, detail: merged };
}

describe("the template's rules", () => {
  // Every order route the contracts parse, in the contracts' order: the rule and the parser cannot drift apart.
  const ordersOf = (source: string) => ({
    source: [source],
    "detail-type": EVENT_ROUTES.filter((r) => r.source === source).map((r) => r.detailType),
  });
  const ORDERS = ordersOf(ORDER_SOURCE);
  const API_ORDERS = ordersOf(API_SOURCE);
  const TRADES = {
    source: ["tradeflow.venue.alpha", "tradeflow.venue.beta", "tradeflow.venue.gamma"],
    "detail-type": ["Trade Reported"],
  };
  const orders = compileEventPattern(ORDERS);
  const trades = compileEventPattern(TRADES);
  const rulesFor = (event: unknown) => [orders(event) && "orders", trades(event) && "trades"].filter(Boolean);

  it("are the patterns of template.yaml's EventBridgeRule events", () => {
    const Rule = z.object({ Type: z.literal("EventBridgeRule"), Properties: z.object({ Pattern: z.unknown() }) });
    const patterns = Object.values(loadTemplate().Resources).flatMap((resource) =>
      Object.values(
        z
          .record(z.string(), z.unknown())
          .catch({})
          .parse(resource.Properties?.Events ?? {}),
      ).flatMap((event) => {
        const rule = Rule.safeParse(event);
        return rule.success ? [rule.data.Properties.Pattern] : [];
      }),
    );
    expect(patterns).toEqual(expect.arrayContaining([ORDERS, API_ORDERS, TRADES]));
    expect(patterns).toHaveLength(3);
  });

  it("route order submissions and cancels to the orders rule only", () => {
    expect(rulesFor(orderEvent())).toEqual(["orders"]);
    expect(rulesFor(cancelEvent())).toEqual(["orders"]);
  });

  it.each(["alpha", "beta", "gamma"] as const)("route %s trade reports to the trades rule only", (venue) => {
    expect(rulesFor(tradeEvent(venue))).toEqual(["trades"]);
  });

  it.each(["Trade Executed", "Order Updated", "Order Rejected"])(
    "match neither with the recorder's tradeflow.compliance %s event",
    (detailType) => {
      const detail = { eventId: "6a7e8feb-b491-4cf7-a9f1-bf3703467718", symbol: "AAPL", origin: "ENGINE" };
      expect(rulesFor(envelope("tradeflow.compliance", detailType, detail))).toEqual([]);
    },
  );

  it("match neither when source and detail-type belong to different rules, differ in case or are missing", () => {
    expect(rulesFor(envelope("tradeflow.orders", "Trade Reported", {}))).toEqual([]);
    expect(rulesFor(envelope("tradeflow.venue.alpha", "Order Submitted", {}))).toEqual([]);
    expect(rulesFor(envelope("tradeflow.venue.delta", "Trade Reported", {}))).toEqual([]);
    expect(rulesFor(envelope("tradeflow.orders", "order submitted", {}))).toEqual([]);
    expect(rulesFor(orderEvent({}, { "detail-type": undefined }))).toEqual([]);
    expect(rulesFor(orderEvent({}, { source: ["tradeflow.orders"] }))).toEqual(["orders"]); // arrays: any element
  });

  it("route every sample in events/put-events by its source", () => {
    const Entries = z.array(z.object({ Source: z.string(), DetailType: z.string(), Detail: z.string() }));
    const dir = templateFile("events/put-events");
    const entries = readdirSync(dir).flatMap((file) =>
      Entries.parse(JSON.parse(readFileSync(join(dir, file), "utf8"))),
    );
    expect(entries.length).toBeGreaterThan(5);
    for (const entry of entries) {
      const event = envelope(entry.Source, entry.DetailType, JSON.parse(entry.Detail));
      expect(rulesFor(event)).toEqual([entry.Source === "tradeflow.orders" ? "orders" : "trades"]);
    }
  });
});

describe("exact matching", () => {
  it("matches any listed value, ANDs the fields, and ignores fields the pattern does not name", () => {
    const pattern = {
      "detail-type": ["EC2 Instance State-change Notification"],
      resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
      detail: { state: ["initializing", "running"] },
    };
    expect(matches(pattern, EC2_EVENT)).toBe(true);
    expect(matches(pattern, ec2({ state: "initializing" }))).toBe(true);
    expect(matches(pattern, ec2({ state: "stopped" }))).toBe(false);
    expect(matches(pattern, ec2({ state: "Running" }))).toBe(false);
    expect(matches(pattern, { ...EC2_EVENT, "detail-type": "Other" })).toBe(false);
  });

  it("matches an event array when it intersects the pattern's list (user guide, arrays)", () => {
    const pattern = {
      resources: [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
      ],
    };
    const resources = [
      "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
      "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
    ];
    expect(matches(pattern, { resources })).toBe(true);
    expect(matches(pattern, { resources: resources.slice(0, 1) })).toBe(false);
    expect(matches(pattern, { resources: [] })).toBe(false);
    expect(matches({ a: [3] }, { a: [[1, 2], [3]] })).toBe(true);
  });

  it("compares numbers numerically, and keeps numbers, strings, booleans and null apart", () => {
    expect(matches({ n: [300] }, JSON.parse('{"n": 300.0}'))).toBe(true);
    expect(matches({ n: [3.018e2] }, { n: 301.8 })).toBe(true);
    expect(matches({ n: [300] }, { n: "300" })).toBe(false);
    expect(matches({ n: ["300"] }, { n: 300 })).toBe(false);
    expect(matches({ b: [true] }, { b: true })).toBe(true);
    expect(matches({ b: [true] }, { b: "true" })).toBe(false);
    expect(matches({ b: [false] }, { b: 0 })).toBe(false);
  });

  it("tells null from the empty string and from an absent field (user guide, null values)", () => {
    expect(matches({ responseElements: [null] }, { responseElements: null })).toBe(true);
    expect(matches({ responseElements: [null] }, {})).toBe(false);
    expect(matches({ responseElements: [null] }, { responseElements: "" })).toBe(false);
    expect(matches({ eventVersion: [""] }, { eventVersion: "" })).toBe(true);
    expect(matches({ eventVersion: [""] }, { eventVersion: null })).toBe(false);
  });

  it("fails when a named field, or the object holding it, is absent or not a leaf", () => {
    expect(matches({ detail: { state: ["running"] } }, { source: "aws.ec2" })).toBe(false);
    expect(matches({ detail: { state: ["running"] } }, { detail: "running" })).toBe(false);
    expect(matches({ detail: ["running"] }, { detail: { state: "running" } })).toBe(false);
    expect(matches({ detail: { state: ["running"] } }, null)).toBe(false);
  });

  it("matches an array of objects only when one element matches the whole nested pattern (event-ruler README)", () => {
    const event = {
      employees: [
        [
          { firstName: "John", lastName: "Doe" },
          { firstName: "Anna", lastName: "Smith" },
        ],
        [{ firstName: "Peter", lastName: "Jones" }],
      ],
    };
    expect(matches({ employees: { firstName: ["Anna"] } }, event)).toBe(true);
    expect(matches({ employees: { firstName: ["Anna"], lastName: ["Smith"] } }, event)).toBe(true);
    expect(matches({ employees: { firstName: ["Anna"], lastName: ["Jones"] } }, event)).toBe(false);
  });
});

describe("prefix, suffix, equals-ignore-case and wildcard", () => {
  it("prefix matches the start of string values only", () => {
    expect(matches({ time: [{ prefix: "2017-10-02" }] }, EC2_EVENT)).toBe(true);
    expect(matches({ time: [{ prefix: "2017-10-03" }] }, EC2_EVENT)).toBe(false);
    expect(matches({ time: [{ prefix: "2017-10-02" }] }, { time: "x2017-10-02" })).toBe(false);
    expect(matches({ n: [{ prefix: "30" }] }, { n: 301 })).toBe(false);
    expect(matches({ region: [{ prefix: "us-" }] }, { region: ["eu-west-1", "us-east-1"] })).toBe(true);
  });

  it("prefix with equals-ignore-case ignores the case of the start", () => {
    const pattern = { detail: { service: [{ prefix: { "equals-ignore-case": "EventB" } }] } };
    for (const service of ["EventBridge", "EVENTBRIDGE", "eventb"])
      expect(matches(pattern, { detail: { service } })).toBe(true);
    expect(matches(pattern, { detail: { service: "Event Bridge" } })).toBe(false);
  });

  it("suffix matches the end of string values only, and with equals-ignore-case ignores its case", () => {
    expect(matches({ FileName: [{ suffix: ".png" }] }, { FileName: "image.png" })).toBe(true);
    expect(matches({ FileName: [{ suffix: ".png" }] }, { FileName: "image.PNG" })).toBe(false);
    expect(matches({ FileName: [{ suffix: ".png" }] }, { FileName: "image.png.gz" })).toBe(false);
    expect(matches({ source: [{ suffix: "ec2" }] }, EC2_EVENT)).toBe(true);
    const ignoreCase = { detail: { FileName: [{ suffix: { "equals-ignore-case": ".png" } }] } };
    expect(matches(ignoreCase, { detail: { FileName: "IMAGE.PNG" } })).toBe(true);
    expect(matches(ignoreCase, { detail: { FileName: "image.jpg" } })).toBe(false);
  });

  it("equals-ignore-case matches whole strings in any case", () => {
    expect(matches({ Name: [{ "equals-ignore-case": "alice" }] }, { Name: "Alice" })).toBe(true);
    expect(matches({ Name: [{ "equals-ignore-case": "alice" }] }, { Name: "ALICE" })).toBe(true);
    expect(matches({ Name: [{ "equals-ignore-case": "alice" }] }, { Name: "Alicia" })).toBe(false);
    expect(matches({ source: [{ "equals-ignore-case": "AWS.EC2" }] }, EC2_EVENT)).toBe(true);
  });

  it("wildcard: * is any run of characters, \\* a star and \\\\ a backslash", () => {
    expect(matches({ source: [{ wildcard: "Simple*Service" }] }, { source: "SimpleNotificationService" })).toBe(true);
    expect(matches({ source: [{ wildcard: "Simple*Service" }] }, { source: "SimpleService" })).toBe(true);
    expect(matches({ source: [{ wildcard: "Simple*Service" }] }, { source: "SimpleServices" })).toBe(false);
    const lib = { FilePath: [{ wildcard: "*/lib/*" }] };
    expect(matches(lib, { FilePath: "/usr/lib/libc.so" })).toBe(true);
    expect(matches(lib, { FilePath: "/usr/bin/lib" })).toBe(false);
    expect(matches({ a: [{ wildcard: "a*b*c" }] }, { a: "a\nb\nc" })).toBe(true);
    expect(matches({ a: [{ wildcard: "2\\*3" }] }, { a: "2*3" })).toBe(true);
    expect(matches({ a: [{ wildcard: "2\\*3" }] }, { a: "2x3" })).toBe(false);
    expect(matches({ a: [{ wildcard: "C:\\\\*" }] }, { a: "C:\\Windows" })).toBe(true);
    expect(matches({ a: [{ wildcard: "a.c(d)" }] }, { a: "abc(d)" })).toBe(false);
    expect(matches({ n: [{ wildcard: "1*" }] }, { n: 12 })).toBe(false);
  });
});

describe("anything-but", () => {
  it("excludes a string or a number (user guide)", () => {
    const state = { detail: { state: [{ "anything-but": "initializing" }] } };
    expect(matches(state, EC2_EVENT)).toBe(true);
    expect(matches(state, ec2({ state: "initializing" }))).toBe(false);
    const limit = { detail: { "x-limit": [{ "anything-but": 123 }] } };
    expect(matches(limit, EC2_EVENT)).toBe(true);
    expect(matches(limit, ec2({ "x-limit": 123.0 }))).toBe(false);
    expect(matches(limit, ec2({ "x-limit": "123" }))).toBe(true);
  });

  it("excludes a list of strings or of numbers (user guide)", () => {
    const states = { detail: { state: [{ "anything-but": ["stopped", "overloaded"] }] } };
    expect(matches(states, EC2_EVENT)).toBe(true);
    expect(matches(states, ec2({ state: "overloaded" }))).toBe(false);
    const limits = { detail: { "x-limit": [{ "anything-but": [100, 200, 300] }] } };
    expect(matches(limits, EC2_EVENT)).toBe(true);
    expect(matches(limits, JSON.parse('{"detail": {"x-limit": 300.0}}'))).toBe(false);
  });

  it("excludes a prefix, a suffix, a value in any case, or a wildcard", () => {
    const prefix = { detail: { state: [{ "anything-but": { prefix: "init" } }] } };
    expect(matches(prefix, EC2_EVENT)).toBe(true);
    expect(matches(prefix, ec2({ state: "initializing" }))).toBe(false);
    const suffix = { FileName: [{ "anything-but": { suffix: ".png" } }] };
    expect(matches(suffix, { FileName: "a.txt" })).toBe(true);
    expect(matches(suffix, { FileName: "a.png" })).toBe(false);
    const ignoreCase = { state: [{ "anything-but": { "equals-ignore-case": "initializing" } }] };
    expect(matches(ignoreCase, { state: "running" })).toBe(true);
    expect(matches(ignoreCase, { state: "INITIALIZING" })).toBe(false);
    const ignoreCaseList = { state: [{ "anything-but": { "equals-ignore-case": ["stopped", "overloaded"] } }] };
    expect(matches(ignoreCaseList, { state: "Overloaded" })).toBe(false);
    expect(matches(ignoreCaseList, { state: "running" })).toBe(true);
    const wildcard = { FilePath: [{ "anything-but": { wildcard: "*/lib/*" } }] };
    expect(matches(wildcard, { FilePath: "/usr/bin/env" })).toBe(true);
    expect(matches(wildcard, { FilePath: "/usr/lib/libc.so" })).toBe(false);
  });

  it("needs the field to be present, and matches an array holding any other value", () => {
    const state = { detail: { state: [{ "anything-but": "initializing" }] } };
    expect(matches(state, ec2({ state: undefined }))).toBe(false);
    expect(matches(state, ec2({ state: ["initializing", "running"] }))).toBe(true);
    expect(matches(state, ec2({ state: ["initializing"] }))).toBe(false);
    expect(matches(state, ec2({ state: null }))).toBe(true);
  });
});

describe("numeric", () => {
  const pattern = {
    detail: {
      "c-count": [{ numeric: [">", 0, "<=", 5] }],
      "d-count": [{ numeric: ["<", 10] }],
      "x-limit": [{ numeric: ["=", 3.018e2] }],
    },
  };

  it("matches when every field is in range (user guide)", () => {
    expect(matches(pattern, EC2_EVENT)).toBe(true);
    expect(matches(pattern, ec2({ "c-count": 0.000001 }))).toBe(true);
    expect(matches(pattern, ec2({ "c-count": 0 }))).toBe(false);
    expect(matches(pattern, ec2({ "c-count": 5.000001 }))).toBe(false);
    expect(matches(pattern, ec2({ "d-count": 10 }))).toBe(false);
    expect(matches(pattern, ec2({ "d-count": -1e9 }))).toBe(true);
    expect(matches(pattern, ec2({ "x-limit": Number("301.800") }))).toBe(true);
    expect(matches(pattern, ec2({ "x-limit": 301.81 }))).toBe(false);
  });

  it("matches JSON numbers only, within -5e9 to 5e9", () => {
    expect(matches(pattern, ec2({ "c-count": "5" }))).toBe(false);
    expect(matches(pattern, ec2({ "c-count": null }))).toBe(false);
    expect(matches(pattern, ec2({ "c-count": undefined }))).toBe(false);
    expect(matches({ n: [{ numeric: [">=", 0] }] }, { n: 5e9 })).toBe(true);
    expect(matches({ n: [{ numeric: [">=", 0] }] }, { n: 5.1e9 })).toBe(false);
    expect(matches({ n: [{ numeric: ["<", 100, ">=", 10] }] }, { n: [1, 50] })).toBe(true);
  });
});

describe("exists", () => {
  it("exists:true matches a present leaf, null included (user guide)", () => {
    const pattern = { detail: { state: [{ exists: true }] } };
    expect(matches(pattern, { detail: { "instance-id": "i-abcd1111", state: "pending" } })).toBe(true);
    expect(matches(pattern, { detail: { state: null } })).toBe(true);
    expect(matches(pattern, { detail: { "c-count": { c1: 100 } } })).toBe(false);
    expect(matches(pattern, { detail: { state: { name: "pending" } } })).toBe(false);
    expect(matches(pattern, { detail: { state: [] } })).toBe(false);
  });

  it("exists:false matches an absent field, or one that is not a leaf (user guide)", () => {
    const pattern = { detail: { "c-count": [{ exists: false }] } };
    expect(matches(pattern, { detail: { state: ["initializing", "running"] } })).toBe(true);
    expect(matches(pattern, { detail: { state: "running", "c-count": { c1: 100 } } })).toBe(true);
    expect(matches(pattern, { source: "aws.ec2" })).toBe(true);
    expect(matches(pattern, EC2_EVENT)).toBe(false);
    expect(matches(pattern, { detail: { "c-count": null } })).toBe(false);
  });

  it("combines with other matchers in one list", () => {
    const pattern = { detail: { state: [{ exists: false }, "running"] } };
    expect(matches(pattern, EC2_EVENT)).toBe(true);
    expect(matches(pattern, ec2({ state: undefined }))).toBe(true);
    expect(matches(pattern, ec2({ state: "stopped" }))).toBe(false);
  });
});

describe("cidr", () => {
  it("matches IPv4 addresses in the block (user guide)", () => {
    const pattern = { detail: { "source-ip": [{ cidr: "10.0.0.0/24" }] } };
    expect(matches(pattern, EC2_EVENT)).toBe(true);
    expect(matches(pattern, ec2({ "source-ip": "10.0.0.255" }))).toBe(true);
    expect(matches(pattern, ec2({ "source-ip": "10.0.1.0" }))).toBe(false);
    expect(matches(pattern, ec2({ "source-ip": "10.0.0.256" }))).toBe(false);
    expect(matches(pattern, ec2({ "source-ip": "not an address" }))).toBe(false);
    expect(matches(pattern, ec2({ "source-ip": 167772161 }))).toBe(false);
  });

  it("handles /0, /8, /32, plain addresses and host bits in the block", () => {
    expect(matches({ ip: [{ cidr: "10.0.0.0/8" }] }, { ip: "10.255.3.4" })).toBe(true);
    expect(matches({ ip: [{ cidr: "10.0.0.0/8" }] }, { ip: "11.0.0.0" })).toBe(false);
    expect(matches({ ip: [{ cidr: "0.0.0.0/0" }] }, { ip: "255.255.255.255" })).toBe(true);
    expect(matches({ ip: [{ cidr: "192.168.1.7/32" }] }, { ip: "192.168.1.7" })).toBe(true);
    expect(matches({ ip: [{ cidr: "192.168.1.7" }] }, { ip: "192.168.1.8" })).toBe(false);
    expect(matches({ ip: [{ cidr: "10.0.0.77/24" }] }, { ip: "10.0.0.1" })).toBe(true);
  });
});

describe("$or", () => {
  const event = { source: "aws.cloudwatch", metricName: "CPUUtilization", namespace: "AWS/EC2", detail: {} };

  it("ORs patterns at the top level (event-ruler README)", () => {
    const pattern = {
      source: ["aws.cloudwatch"],
      $or: [{ metricName: ["CPUUtilization", "ReadLatency"] }, { namespace: ["AWS/EC2", "AWS/ES"] }],
    };
    expect(matches(pattern, event)).toBe(true);
    expect(matches(pattern, { ...event, metricName: "Other" })).toBe(true);
    expect(matches(pattern, { ...event, metricName: "Other", namespace: "AWS/S3" })).toBe(false);
    expect(matches(pattern, { ...event, source: "aws.ec2" })).toBe(false);
  });

  it("ORs within nested objects, in parallel and nested (event-ruler README)", () => {
    const parallel = {
      $or: [{ metricName: ["CPUUtilization"] }, { namespace: ["AWS/EC2"] }],
      detail: { $or: [{ source: ["aws.cloudwatch"] }, { "detail-type": ["CloudWatch Alarm State Change"] }] },
    };
    expect(matches(parallel, { ...event, detail: { source: "aws.cloudwatch" } })).toBe(true);
    expect(matches(parallel, { ...event, detail: { "detail-type": "CloudWatch Alarm State Change" } })).toBe(true);
    expect(matches(parallel, event)).toBe(false);
    const nested = {
      source: ["aws.cloudwatch"],
      $or: [
        { metricName: ["ReadLatency"] },
        { metricType: ["MetricType"], namespace: ["AWS/EC2"], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
        { scope: ["Service"] },
      ],
    };
    expect(matches(nested, { ...event, metricType: "MetricType", spaceId: 1000 })).toBe(true);
    expect(matches(nested, { ...event, metricType: "MetricType", spaceId: 1001 })).toBe(false);
    expect(matches(nested, { ...event, scope: "Service" })).toBe(true);
  });
});

it("combines matchers (user guide, complex example)", () => {
  const pattern = {
    time: [{ prefix: "2017-10-02" }],
    detail: {
      state: [{ "anything-but": "initializing" }],
      "c-count": [{ numeric: [">", 0, "<=", 5] }],
      "d-count": [{ numeric: ["<", 10] }],
      "x-limit": [{ "anything-but": [100, 200, 300] }],
      "source-ip": [{ cidr: "10.0.0.0/8" }],
    },
  };
  expect(matches(pattern, EC2_EVENT)).toBe(true);
  expect(matches(pattern, ec2({ "x-limit": 200 }))).toBe(false);
  expect(matches(pattern, ec2({ "source-ip": "192.168.0.1" }))).toBe(false);
});

describe("invalid patterns", () => {
  const INVALID: Array<[string, unknown]> = [
    ["null", null],
    ["an array", [{ source: ["x"] }]],
    ["a string", '{"source": ["x"]}'],
    ["an empty object", {}],
    ["a nested empty object", { detail: {} }],
    ["a bare value", { source: "aws.ec2" }],
    ["an empty list", { source: [] }],
    ["a nested list", { source: [["aws.ec2"]] }],
    ["an unknown operator", { source: [{ contains: "ec2" }] }],
    ["an empty matcher", { source: [{}] }],
    ["two operators in one matcher", { source: [{ prefix: "a", suffix: "b" }] }],
    ["a non-string prefix", { source: [{ prefix: 1 }] }],
    ["prefix with another option", { source: [{ prefix: { "ignore-case": "a" } }] }],
    ["a non-boolean exists", { source: [{ exists: "true" }] }],
    ["consecutive wildcards", { source: [{ wildcard: "a**b" }] }],
    ["a backslash escaping a letter", { source: [{ wildcard: "a\\b" }] }],
    ["a trailing backslash", { source: [{ wildcard: "a\\" }] }],
    ["anything-but with an empty list", { s: [{ "anything-but": [] }] }],
    ["anything-but with a mixed list", { s: [{ "anything-but": ["a", 1] }] }],
    ["anything-but true", { s: [{ "anything-but": true }] }],
    ["anything-but numeric", { s: [{ "anything-but": { numeric: [">", 1] } }] }],
    ["anything-but with a list of prefixes", { s: [{ "anything-but": { prefix: ["a", "b"] } }] }],
    ["numeric with a string bound", { n: [{ numeric: ["=", "5"] }] }],
    ["numeric with an unknown comparison", { n: [{ numeric: ["!=", 5] }] }],
    ["numeric with two lower bounds", { n: [{ numeric: [">", 0, ">=", 5] }] }],
    ["numeric with = and a bound", { n: [{ numeric: ["=", 1, "<", 5] }] }],
    ["numeric with an empty range", { n: [{ numeric: [">", 5, "<", 5] }] }],
    ["numeric beyond 5e9", { n: [{ numeric: [">", 6e9] }] }],
    ["numeric with three elements", { n: [{ numeric: [">", 1, "<"] }] }],
    ["a cidr beyond /32", { ip: [{ cidr: "10.0.0.0/33" }] }],
    ["a cidr with three octets", { ip: [{ cidr: "10.0.0/24" }] }],
    ["a cidr with an octet beyond 255", { ip: [{ cidr: "300.0.0.0/8" }] }],
    ["an IPv6 cidr", { ip: [{ cidr: "2001:db8::/32" }] }],
    ["$or with one pattern", { $or: [{ source: ["a"] }] }],
    ["$or as an object", { $or: { source: ["a"] } }],
    ["$or with a list of values", { $or: [["a"], ["b"]] }],
  ];

  it.each(INVALID)("refuses %s with InvalidEventPatternException", (_, pattern) => {
    let thrown: unknown;
    try {
      compileEventPattern(pattern);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidEventPatternError);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe("InvalidEventPatternException");
    expect((thrown as Error).message).toMatch(/^Event pattern is not valid: /);
  });

  it("says where the problem is", () => {
    expect(() => compileEventPattern({ detail: { state: [{ contains: "x" }] } })).toThrow(
      'detail.state[0].contains: unknown operator "contains"',
    );
    expect(() => compileEventPattern({ detail: { $or: [{ a: ["x"] }, { b: "y" }] } })).toThrow("detail.$or[1].b:");
  });
});

// Properties. fast-check prints the seed and path of any failure; replay one with fc.assert(..., { seed, path }).
describe("properties", () => {
  type Scalar = string | number | boolean | null;
  type Leaf = { path: string[]; values: Scalar[] };
  const key = fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k !== "$or" && k !== "__proto__");
  const scalar: fc.Arbitrary<Scalar> = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer({ min: -1000, max: 1000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
  );
  const { tree } = fc.letrec<{ tree: Record<string, unknown> }>((tie) => ({
    tree: fc.dictionary(
      key,
      fc.oneof({ maxDepth: 3, depthSize: "small" }, scalar, fc.array(scalar, { maxLength: 4 }), tie("tree")),
      { maxKeys: 5 },
    ),
  }));

  /** The event's scalar leaves: a field holding a scalar or a non-empty array of scalars. */
  function leavesOf(value: Record<string, unknown>, path: string[] = []): Leaf[] {
    return Object.entries(value).flatMap(([k, v]): Leaf[] => {
      if (Array.isArray(v)) return v.length > 0 ? [{ path: [...path, k], values: v as Scalar[] }] : [];
      if (typeof v === "object" && v !== null) return leavesOf(v as Record<string, unknown>, [...path, k]);
      return [{ path: [...path, k], values: [v as Scalar] }];
    });
  }

  function patternOf(fields: Array<{ path: string[]; list: unknown[] }>): Record<string, unknown> {
    const pattern: Record<string, unknown> = {};
    for (const { path, list } of fields) {
      let node = pattern;
      for (const k of path.slice(0, -1)) {
        if (!Object.hasOwn(node, k)) node[k] = {};
        node = node[k] as Record<string, unknown>;
      }
      node[path.at(-1)!] = list;
    }
    return pattern;
  }

  /** An event, some of its leaves, for each some of its values and decoys, and a scalar for the negative case. */
  const sample = tree
    .map((event) => ({ event, leaves: leavesOf(event) }))
    .filter(({ leaves }) => leaves.length > 0)
    .chain(({ event, leaves }) =>
      fc.subarray(leaves, { minLength: 1 }).chain((chosen) =>
        fc.record({
          event: fc.constant(event),
          fields: fc.tuple(
            ...chosen.map((leaf) =>
              fc
                .tuple(fc.subarray(leaf.values, { minLength: 1 }), fc.array(scalar, { maxLength: 2 }))
                .map(([values, decoys]) => ({ leaf, list: [...values, ...decoys] })),
            ),
          ),
          broken: fc.nat({ max: chosen.length - 1 }),
          replacement: scalar,
        }),
      ),
    );

  it("a pattern built from some of an event's own leaves matches it", () => {
    fc.assert(
      fc.property(sample, ({ event, fields }) => {
        expect(matches(patternOf(fields.map(({ leaf, list }) => ({ path: leaf.path, list }))), event)).toBe(true);
      }),
    );
  });

  it("replacing one leaf's list with a value the event does not hold there makes it fail", () => {
    fc.assert(
      fc.property(sample, ({ event, fields, broken, replacement }) => {
        const target = fields[broken]!.leaf;
        fc.pre(!target.values.includes(replacement));
        const changed = fields.map(({ leaf, list }, i) => ({
          path: leaf.path,
          list: i === broken ? [replacement] : list,
        }));
        expect(matches(patternOf(changed), event)).toBe(false);
      }),
    );
  });

  it("naming a field the event lacks fails, unless it is exists:false", () => {
    fc.assert(
      fc.property(sample, scalar, ({ event, fields }, value) => {
        const own = fields.map(({ leaf, list }) => ({ path: leaf.path, list }));
        const absent = ["$absent", "field"];
        expect(matches(patternOf([...own, { path: absent, list: [value, { exists: true }] }]), event)).toBe(false);
        expect(matches(patternOf([...own, { path: absent, list: [{ exists: false }] }]), event)).toBe(true);
      }),
    );
  });

  it("$or matches when any branch does", () => {
    fc.assert(
      fc.property(sample, sample, ({ event, fields }, other) => {
        const own = patternOf(fields.map(({ leaf, list }) => ({ path: leaf.path, list })));
        const theirs = patternOf(other.fields.map(({ leaf, list }) => ({ path: leaf.path, list })));
        expect(matches({ $or: [theirs, own] }, event)).toBe(true);
        expect(matches({ $or: [theirs, theirs] }, event)).toBe(matches(theirs, event));
      }),
    );
  });

  it("a wildcard made by starring parts of a string matches that string", () => {
    const literal = (s: string) => s.replace(/[\\*]/g, "\\$&");
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 5 }), fc.boolean()), { maxLength: 6 }), (parts) => {
        const value = parts.map(([text]) => text).join("");
        let wildcard = "";
        let starredLast = false;
        for (const [text, starred] of parts) {
          if (starred && !starredLast) wildcard += "*";
          if (!starred) wildcard += literal(text);
          starredLast = starred ? true : starredLast && text === "";
        }
        expect(matches({ v: [{ wildcard }] }, { v: value })).toBe(true);
        expect(matches({ v: [{ wildcard: literal(value) }] }, { v: value })).toBe(true);
        expect(matches({ v: [{ wildcard: literal(value) }] }, { v: `${value}x` })).toBe(false);
      }),
    );
  });

  it("cidr agrees with comparing the leading bits", () => {
    const dotted = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
    const bits = (n: number) => n.toString(2).padStart(32, "0");
    const address = fc.nat({ max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(address, fc.integer({ min: 0, max: 32 }), address, (network, prefix, ip) => {
        const inside = bits(network).slice(0, prefix) === bits(ip).slice(0, prefix);
        expect(matches({ ip: [{ cidr: `${dotted(network)}/${prefix}` }] }, { ip: dotted(ip) })).toBe(inside);
      }),
    );
  });

  it("numeric ranges and anything-but lists agree with plain comparisons", () => {
    const n = fc.double({ min: -5e9, max: 5e9, noNaN: true });
    fc.assert(
      fc.property(n, n, n, fc.array(n, { minLength: 1, maxLength: 4 }), (a, b, v, list) => {
        fc.pre(a < b);
        expect(matches({ v: [{ numeric: [">=", a, "<", b] }] }, { v })).toBe(a <= v && v < b);
        expect(matches({ v: [{ numeric: ["<=", b, ">", a] }] }, { v })).toBe(a < v && v <= b);
        expect(matches({ v: [{ "anything-but": list }] }, { v })).toBe(!list.includes(v));
      }),
    );
  });

  it("compiling any JSON either works or throws InvalidEventPatternError, and matchers never throw", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (pattern, event) => {
        let matcher: ((event: unknown) => boolean) | undefined;
        try {
          matcher = compileEventPattern(pattern);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidEventPatternError);
        }
        if (matcher) expect(typeof matcher(event)).toBe("boolean");
      }),
    );
  });
});
