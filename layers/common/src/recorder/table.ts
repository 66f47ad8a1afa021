// The compliance table's two writes: a fact where its key is free, an order state over an older version. One
// conditional PutItem each, no read before: a failed condition returns the stored item, which tells a replay from
// a conflicting reuse of the key.
import { type AttributeValue, ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, PutCommand, type PutCommandInput } from "@aws-sdk/lib-dynamodb";
import type { Fact, StateWrite } from "./plan";

/** The string attributes of an item the condition found in place (what the checks compare). */
export type Stored = Readonly<Record<string, string>>;

export type FactOutcome =
  | { readonly status: "WRITTEN" }
  | { readonly status: "DUPLICATE" | "CONFLICT"; readonly stored: Stored };

/** STALE: the table already holds this version of the order or a newer one. */
export type StateOutcome = { readonly status: "WRITTEN" | "STALE" | "CONFLICT" };

export class ComplianceTable {
  /** DynamoDB requests made through this instance. */
  calls = 0;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date,
  ) {}

  async putFact(f: Fact): Promise<FactOutcome> {
    const stored = await this.put({
      Item: { ...f.item, recordedAt: this.now().toISOString() },
      ConditionExpression: "attribute_not_exists(pk)",
    });
    if (!stored) return { status: "WRITTEN" };
    return { status: stored.contentHash === f.contentHash ? "DUPLICATE" : "CONFLICT", stored };
  }

  /** An order id reused by another client or on another symbol is a conflict, never an update. */
  async putState(s: StateWrite): Promise<StateOutcome> {
    const stored = await this.put({
      Item: { ...s.item, recordedAt: this.now().toISOString() },
      ConditionExpression:
        "attribute_not_exists(pk) OR (#version < :version AND #clientId = :clientId AND #symbol = :symbol)",
      ExpressionAttributeNames: { "#version": "version", "#clientId": "clientId", "#symbol": "symbol" },
      ExpressionAttributeValues: {
        ":version": s.state.version,
        ":clientId": s.state.clientId,
        ":symbol": s.state.symbol,
      },
    });
    if (!stored) return { status: "WRITTEN" };
    const same = stored.clientId === s.state.clientId && stored.symbol === s.state.symbol;
    return { status: same ? "STALE" : "CONFLICT" };
  }

  /** Undefined when written; the stored item when the condition failed. */
  private async put(input: Omit<PutCommandInput, "TableName">): Promise<Stored | undefined> {
    this.calls++;
    try {
      await this.db.send(
        new PutCommand({ ...input, TableName: this.tableName, ReturnValuesOnConditionCheckFailure: "ALL_OLD" }),
      );
      return undefined;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      return strings(err.Item ?? {});
    }
  }
}

function strings(item: Record<string, AttributeValue>): Stored {
  return Object.fromEntries(
    Object.entries(item).flatMap(([name, value]) => (value.S === undefined ? [] : [[name, value.S]])),
  );
}
