// The template's DynamoDB tables (and global tables, as one local table each) in DynamoDB Local, with their
// indexes, streams and TTL.
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { z } from "zod";
import { isMissing, type ProvisionContext, physicalName } from "../provision";

const KeySchema = z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(["HASH", "RANGE"]) }));
const TableProperties = z.object({
  TableName: z.string().optional(),
  AttributeDefinitions: z.array(z.object({ AttributeName: z.string(), AttributeType: z.enum(["S", "N", "B"]) })),
  KeySchema,
  GlobalSecondaryIndexes: z
    .array(
      z.object({
        IndexName: z.string(),
        KeySchema,
        Projection: z.object({
          ProjectionType: z.enum(["ALL", "KEYS_ONLY", "INCLUDE"]),
          NonKeyAttributes: z.array(z.string()).optional(),
        }),
      }),
    )
    .optional(),
  StreamSpecification: z
    .object({ StreamViewType: z.enum(["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]) })
    .optional(),
  TimeToLiveSpecification: z.object({ AttributeName: z.string(), Enabled: z.boolean() }).optional(),
});

/** Table names by logical id. */
export async function createTables(context: ProvisionContext): Promise<Record<string, string>> {
  const dynamo = new DynamoDBClient({ endpoint: context.dynamoEndpoint, region: context.region });
  const tables: Record<string, string> = {};
  for (const type of ["AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"]) {
    for (const [logicalId, resource] of context.resolver.resourcesOfType(type)) {
      const p = context.resolver.properties(TableProperties, resource.Properties);
      const name = physicalName(context, logicalId, p.TableName);
      const table = await ensureTable(dynamo, name, p);
      if (p.TimeToLiveSpecification?.Enabled) await ensureTtl(dynamo, name, p.TimeToLiveSpecification.AttributeName);
      tables[logicalId] = name;
      context.physical[logicalId] = {
        ref: name,
        attributes: {
          Arn: table.TableArn ?? name,
          ...(table.LatestStreamArn ? { StreamArn: table.LatestStreamArn } : {}),
        },
      };
    }
  }
  return tables;
}

async function ensureTable(
  dynamo: DynamoDBClient,
  name: string,
  p: z.infer<typeof TableProperties>,
): Promise<TableDescription> {
  try {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: name }));
    if (Table) return Table;
  } catch (err) {
    if (!isMissing(err, ResourceNotFoundException)) throw err;
  }
  const { TableDescription } = await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: p.AttributeDefinitions,
      KeySchema: p.KeySchema,
      GlobalSecondaryIndexes: p.GlobalSecondaryIndexes,
      StreamSpecification: p.StreamSpecification && { StreamEnabled: true, ...p.StreamSpecification },
    }),
  );
  if (!TableDescription) throw new Error(`DynamoDB Local returned no description for ${name}`);
  return TableDescription;
}

async function ensureTtl(dynamo: DynamoDBClient, name: string, attribute: string): Promise<void> {
  const { TimeToLiveDescription } = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: name }));
  if (TimeToLiveDescription?.TimeToLiveStatus === "ENABLED") return;
  await dynamo.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
    }),
  );
}
