// The EventBridge operations the gateway answers from the local bus: PutEvents, and ListRules, DescribeRule and
// ListTargetsByRule from the template's rules the bus holds (moto has the bus but not these rules). The rest of
// EventBridge goes to moto.
import { z } from "zod";
import { EventBridgeError, type LocalEventBus, type LocalRule } from "./bus";

const BusName = z.string().min(1).optional();
const ListRules = z.object({
  NamePrefix: z.string().optional(),
  EventBusName: BusName,
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const DescribeRule = z.object({ Name: z.string().min(1).max(64), EventBusName: BusName });
const ListTargetsByRule = DescribeRule.extend({
  Rule: z.string().min(1).max(64),
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
}).omit({ Name: true });

export const EVENTBRIDGE_OPERATIONS = ["PutEvents", "ListRules", "DescribeRule", "ListTargetsByRule"] as const;
type Operation = (typeof EVENTBRIDGE_OPERATIONS)[number];

export function servesEventBridge(operation: string): operation is Operation {
  return (EVENTBRIDGE_OPERATIONS as readonly string[]).includes(operation);
}

/** The rules on the bus a request names: the template's on the local bus, none on the default bus. */
function rulesOn(bus: LocalEventBus, name = "default"): readonly LocalRule[] {
  if (bus.isBus(name)) return bus.ruleList;
  if (name === "default") return [];
  throw new EventBridgeError("ResourceNotFoundException", `Event bus ${name} does not exist.`);
}

function rule(bus: LocalEventBus, name: string, busName = "default"): LocalRule {
  const found = rulesOn(bus, busName).find((r) => r.name === name);
  if (!found)
    throw new EventBridgeError("ResourceNotFoundException", `Rule ${name} does not exist on EventBus ${busName}.`);
  return found;
}

function page<T>(items: readonly T[], limit: number | undefined, token: string | undefined) {
  const decoded = token === undefined ? "0" : Buffer.from(token, "base64url").toString();
  const start = Number(decoded);
  if (!/^\d+$/.test(decoded) || start > items.length)
    throw new EventBridgeError("ValidationException", "The NextToken is not valid.");
  const end = start + (limit ?? 100);
  return {
    items: items.slice(start, end),
    NextToken: end < items.length ? Buffer.from(String(end)).toString("base64url") : undefined,
  };
}

function ruleShape(bus: LocalEventBus, r: LocalRule) {
  return {
    Name: r.name,
    Arn: r.arn,
    EventPattern: JSON.stringify(r.eventPattern),
    State: "ENABLED",
    EventBusName: bus.name,
  };
}

export function eventBridgeApi(bus: LocalEventBus, operation: Operation, body: unknown): unknown {
  switch (operation) {
    case "PutEvents":
      return bus.putEvents(body);
    case "ListRules": {
      const p = ListRules.parse(body);
      const rules = rulesOn(bus, p.EventBusName).filter((r) => r.name.startsWith(p.NamePrefix ?? ""));
      const { items, NextToken } = page(rules, p.Limit, p.NextToken);
      return { Rules: items.map((r) => ruleShape(bus, r)), NextToken };
    }
    case "DescribeRule": {
      const p = DescribeRule.parse(body);
      return { ...ruleShape(bus, rule(bus, p.Name, p.EventBusName)), CreatedBy: bus.accountId };
    }
    case "ListTargetsByRule": {
      const p = ListTargetsByRule.parse(body);
      const { items, NextToken } = page(rule(bus, p.Rule, p.EventBusName).targets, p.Limit, p.NextToken);
      return {
        Targets: items.map((t) => ({
          Id: t.id,
          Arn: t.arn,
          RetryPolicy: {
            MaximumRetryAttempts: t.maximumRetryAttempts,
            MaximumEventAgeInSeconds: t.maximumEventAgeSeconds,
          },
          ...(t.deadLetterArn && { DeadLetterConfig: { Arn: t.deadLetterArn } }),
        })),
        NextToken,
      };
    }
  }
}
