// The Validate state: structure first (contracts), then the business rules against SSM configuration and the
// last recorded trade price. Every event that must not proceed raises ValidationRejected.
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import {
  canonicalDecimal,
  PositiveDecimal,
  parseEvent,
  symbolOf,
  toCancelCommand,
  toOrderCommand,
  type ValidatedEvent,
  ValidationRejected,
} from "../contracts";
import type { InstrumentRegistry } from "../instruments";
import { applyRules } from "./rules";

export { applyRules, priceBand, type RuleOutcome } from "./rules";

/** What validation reads; the handler wires SSM and DynamoDB, tests wire whatever they need. */
export interface ValidationSources {
  instruments(): Promise<InstrumentRegistry>;
  /** The last recorded trade price for the symbol, or null when none is recorded yet. */
  lastTradePrice(symbol: string): Promise<string | null>;
}

/**
 * The validated, normalized event with the matcher's command for orders. Throws ValidationRejected for any
 * bad input; other errors (configuration or DynamoDB unavailable) propagate for the state machine to handle.
 */
export async function validateEvent(input: unknown, sources: ValidationSources): Promise<ValidatedEvent> {
  const parsed = parseEvent(input);
  if (!parsed.ok) throw new ValidationRejected(parsed.violations);
  const event = parsed.event;
  const symbol = symbolOf(event);
  const [registry, lastTradePrice] = await Promise.all([
    sources.instruments(),
    event.kind === "ORDER_CANCEL" ? null : sources.lastTradePrice(symbol),
  ]);
  const { violations, checks } = applyRules(event, registry.get(symbol), lastTradePrice);
  if (violations.length > 0) throw new ValidationRejected(violations);
  switch (event.kind) {
    case "ORDER_SUBMIT":
      return { ...event, checks, command: toOrderCommand(event.order) };
    case "ORDER_CANCEL":
      return { ...event, checks, command: toCancelCommand(event.cancel) };
    case "TRADE":
      return { ...event, checks };
  }
}

const LastTradeItemSchema = z.object({ price: PositiveDecimal });

/** Reads the recorder's per-symbol LAST_TRADE item (pk SYMBOL#<symbol>, sk LAST_TRADE) from the compliance table. */
export function lastTradePriceFromTable(documents: DynamoDBDocumentClient, tableName: string) {
  return async (symbol: string): Promise<string | null> => {
    const { Item } = await documents.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: `SYMBOL#${symbol}`, sk: "LAST_TRADE" },
        ProjectionExpression: "#price",
        ExpressionAttributeNames: { "#price": "price" },
      }),
    );
    if (!Item) return null;
    const parsed = LastTradeItemSchema.safeParse(Item);
    // A corrupt reference must not silently switch the band off.
    if (!parsed.success) throw new Error(`LAST_TRADE item for ${symbol} in ${tableName} has no valid decimal price`);
    return canonicalDecimal(parsed.data.price);
  };
}
