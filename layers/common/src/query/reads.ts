// The read side of the compliance table: one order with its history, and the client's or symbol's lists, each a
// single Query on the table or one GSI (docs/data-model.md). Items are parsed back into the engine's shapes.
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { type OrderState, OrderStateSchema, type Trade, TradeSchema, utcMillis } from "../contracts";
import type { Side } from "../orderbook/types";
import { decodeCursor, encodeCursor, type Position, type StartKey } from "./cursor";
import { ApiProblem } from "./problem";

export interface TableReader {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
}

export interface OrderVersion {
  readonly version: number;
  readonly cause: string;
  readonly recordedAt: string;
  readonly trades: readonly Trade[];
}

export interface Fill {
  readonly tradeId: string;
  readonly orderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly price: string;
  readonly quantity: string;
  readonly liquidity: "MAKER" | "TAKER";
  readonly executedAt: string;
}

export interface OrderDetail {
  readonly order: OrderState;
  readonly versions: readonly OrderVersion[];
  readonly fills: readonly Fill[];
}

export interface Page<R> {
  readonly items: readonly R[];
  readonly nextCursor: string | null;
}

type Item = Record<string, unknown>;

const VersionSchema = OrderStateSchema.extend({
  cause: z.string(),
  recordedAt: z.string(),
  trades: z.array(TradeSchema),
});

/** The fills of one order among trades: those it made or took, each once, in the order given. */
export function fillsOf(order: Pick<OrderState, "orderId" | "symbol" | "side">, trades: readonly Trade[]): Fill[] {
  const fills = new Map<string, Fill>();
  for (const t of trades) {
    if (fills.has(t.tradeId) || (t.makerOrderId !== order.orderId && t.takerOrderId !== order.orderId)) continue;
    fills.set(t.tradeId, {
      tradeId: t.tradeId,
      orderId: order.orderId,
      symbol: order.symbol,
      side: order.side,
      price: t.price,
      quantity: t.quantity,
      liquidity: t.makerOrderId === order.orderId ? "MAKER" : "TAKER",
      executedAt: utcMillis(t.timestamp),
    });
  }
  return [...fills.values()];
}

/** The order's state, its versions oldest first and its fills; another client's order is not found. */
export async function readOrder(table: TableReader, clientId: string, orderId: string): Promise<OrderDetail> {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await table.db.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": `ORDER#${orderId}` },
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const meta = items.find((i) => i.sk === "META");
  if (!meta || meta.clientId !== clientId) throw new ApiProblem("ORDER_NOT_FOUND", `no order ${orderId}`);
  const order = OrderStateSchema.parse(meta);
  const versions = items
    .filter((i) => typeof i.sk === "string" && i.sk.startsWith("V#"))
    .map((i) => VersionSchema.parse(i))
    .map(({ version, cause, recordedAt, trades }) => ({ version, cause, recordedAt, trades }));
  return {
    order,
    versions,
    fills: fillsOf(
      order,
      versions.flatMap((v) => v.trades),
    ),
  };
}

const INDEXES = {
  bySymbolTime: { pk: "gsi1pk", sk: "gsi1sk" },
  byClientTime: { pk: "gsi2pk", sk: "gsi2sk" },
} as const;

export interface ListQuery<R> {
  readonly index: keyof typeof INDEXES;
  readonly partition: string;
  /** BETWEEN bounds on the index's sort key (`<ISO time>#<id>`: a bare time as `to` excludes that instant). */
  readonly range?: { readonly from: string; readonly to: string };
  readonly newestFirst: boolean;
  /** Attribute name -> required value, ANDed. */
  readonly where: Readonly<Record<string, string>>;
  /** The rows one item gives, in page order. */
  readonly rows: (item: Item) => readonly R[];
}

export interface PageRequest {
  /** What the cursor is bound to (cursorScope). */
  readonly scope: string;
  readonly limit: number;
  readonly cursor?: string;
}

/**
 * One page of rows: items are read in index order until `limit` rows are taken; an item whose rows do not all
 * fit is resumed by the cursor part-way. nextCursor is null when no row follows the page's last.
 */
export async function listPage<R>(table: TableReader, query: ListQuery<R>, request: PageRequest): Promise<Page<R>> {
  const index = INDEXES[query.index];
  const inQuery = (key: StartKey) => {
    const names = Object.keys(key).sort();
    const sk = key[index.sk];
    return (
      names.join() === ["pk", "sk", index.pk, index.sk].sort().join() &&
      key[index.pk] === query.partition &&
      sk !== undefined &&
      (!query.range || (sk >= query.range.from && sk <= query.range.to))
    );
  };
  // Bound to the query too: a position without a key (inside the first item) means nothing in another partition.
  const scope = JSON.stringify([request.scope, query.partition, query.range ?? null]);
  let { key: start, skip }: Position = decodeCursor(request.cursor, scope, inQuery);
  const next = (position: Position) => ({ items: rows, nextCursor: encodeCursor(scope, position) });
  const rows: R[] = [];
  const where = Object.entries(query.where);
  const input: QueryCommandInput = {
    TableName: table.tableName,
    IndexName: query.index,
    KeyConditionExpression: `#ipk = :ipk${query.range ? " AND #isk BETWEEN :from AND :to" : ""}`,
    FilterExpression: where.map((_, i) => `#w${i} = :w${i}`).join(" AND "),
    ExpressionAttributeNames: {
      "#ipk": index.pk,
      ...(query.range ? { "#isk": index.sk } : {}),
      ...Object.fromEntries(where.map(([name], i) => [`#w${i}`, name])),
    },
    ExpressionAttributeValues: {
      ":ipk": query.partition,
      ...(query.range ? { ":from": query.range.from, ":to": query.range.to } : {}),
      ...Object.fromEntries(where.map(([, value], i) => [`:w${i}`, value])),
    },
    ScanIndexForward: !query.newestFirst,
    // Evaluated items, before the filter: one more than a page of unfiltered rows.
    Limit: request.limit + 1,
  };
  for (;;) {
    const page = await table.db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      // A full page reads on (past LastEvaluatedKey) only to learn whether an item follows: no cursor leads to an
      // empty page. Every item the filter passes has rows.
      if (rows.length === request.limit) return next({ key: start, skip: 0 });
      const all = query.rows(item);
      const taken = all.slice(skip, skip + request.limit - rows.length);
      rows.push(...taken);
      if (skip + taken.length < all.length) return next({ key: start, skip: skip + taken.length });
      start = keyOf(item, index);
      skip = 0;
    }
    if (!page.LastEvaluatedKey) return { items: rows, nextCursor: null };
    start = page.LastEvaluatedKey as StartKey;
  }
}

function keyOf(item: Item, index: { readonly pk: string; readonly sk: string }): StartKey {
  return Object.fromEntries(["pk", "sk", index.pk, index.sk].map((name) => [name, String(item[name])]));
}

const byClient = (clientId: string) => `CLIENT#${clientId}`;

/** The client's orders, newest submitted first. */
export function listOrders(
  table: TableReader,
  clientId: string,
  filter: { readonly status?: string; readonly symbol?: string },
  request: PageRequest,
): Promise<Page<OrderState>> {
  return listPage(
    table,
    {
      index: "byClientTime",
      partition: byClient(clientId),
      newestFirst: true,
      where: { entity: "ORDER", ...definedOnly(filter) },
      rows: (item) => [OrderStateSchema.parse(item)],
    },
    request,
  );
}

/** The client's fills, newest first: the versions of its orders that traded. */
export function listFills(
  table: TableReader,
  clientId: string,
  filter: { readonly symbol?: string },
  request: PageRequest,
): Promise<Page<Fill>> {
  return listPage(
    table,
    {
      index: "byClientTime",
      partition: byClient(clientId),
      newestFirst: true,
      where: { entity: "ORDER_VERSION", ...definedOnly(filter) },
      rows: (item) => {
        const version = VersionSchema.parse(item);
        return fillsOf(version, version.trades).reverse();
      },
    },
    request,
  );
}

/** The symbol's engine trades executed at or after `from` and before `to` (UTC ISO instants), oldest first. */
export function listTrades(
  table: TableReader,
  symbol: string,
  range: { readonly from: string; readonly to: string },
  request: PageRequest,
): Promise<Page<Trade>> {
  return listPage(
    table,
    {
      index: "bySymbolTime",
      partition: `SYMBOL#${symbol}`,
      range,
      newestFirst: false,
      // The taker's version of each command that traded holds all its trades; venue trades are TRADE items.
      where: { entity: "ORDER_VERSION" },
      rows: (item) => VersionSchema.parse(item).trades,
    },
    request,
  );
}

function definedOnly(values: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined));
}
