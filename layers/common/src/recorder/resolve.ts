// A plan against what the table holds now: which facts are new, which are replays, which reuse a key for other
// content, and how each order's META moves. Pure; the store reads the current items and writes the result.
import * as z from "zod";
import { formatScaled, parseDecimal } from "../decimal";
import {
  type Fact,
  type Item,
  type ItemKey,
  type OrderChange,
  orderKey,
  type RecordPlan,
  receiptFact,
  receiptKey,
} from "./plan";

export interface MetaUpdate {
  readonly key: ItemKey;
  readonly set: Item;
  /** The version read: the update applies only if META still has it (undefined: only if META is absent). */
  readonly expectedVersion: number | undefined;
  /**
   * Whether the META read had its submission's attributes. A late submission adds them without a new version, so
   * the version alone would let a concurrent update computed from the older read overwrite filledQuantity.
   */
  readonly expectedSubmitted: boolean;
}

export interface Resolution {
  readonly puts: readonly Fact[];
  readonly updates: readonly MetaUpdate[];
  readonly duplicates: number;
  readonly conflicts: readonly ItemKey[];
}

export const itemId = (key: ItemKey): string => `${key.pk}\u0000${key.sk}`;

/** Every item the resolution needs to see: the facts, the receipt and the META of each order touched. */
export function keysToRead(plan: RecordPlan): ItemKey[] {
  const keys = [
    receiptKey(plan.subject.eventId),
    ...plan.facts.map((f) => f.key),
    ...plan.orders.map((o) => orderKey(o.orderId)),
  ];
  return [...new Map(keys.map((k) => [itemId(k), k])).values()];
}

const StoredFactSchema = z.object({ contentHash: z.string() });

const OrderMetaSchema = z.object({
  version: z.number(),
  clientId: z.string(),
  symbol: z.string(),
  orderHash: z.string().optional(),
  quantity: z.string().optional(),
  remainingQuantity: z.string(),
  cancelledQuantity: z.string().optional(),
});

type OrderMeta = z.infer<typeof OrderMetaSchema>;

export function resolveWrites(plan: RecordPlan, existing: ReadonlyMap<string, Item>): Resolution {
  const conflicts: ItemKey[] = [];
  const puts: Fact[] = [];
  let duplicates = 0;
  for (const f of plan.facts) {
    const stored = existing.get(itemId(f.key));
    if (!stored) puts.push(f);
    else if (StoredFactSchema.safeParse(stored).data?.contentHash === f.contentHash) duplicates++;
    else conflicts.push(f.key);
  }

  const updates: MetaUpdate[] = [];
  for (const change of latestPerOrder(plan.orders)) {
    const key = orderKey(change.orderId);
    const stored = existing.get(itemId(key));
    const current = stored ? OrderMetaSchema.safeParse(stored).data : undefined;
    if (stored && (!current || !sameOrder(current, change))) conflicts.push(key);
    else {
      const update = metaUpdate(change, current);
      if (update) updates.push(update);
    }
  }

  const receipt = receiptFact(plan.subject);
  const storedReceipt = existing.get(itemId(receipt.key));
  if (storedReceipt && StoredFactSchema.safeParse(storedReceipt).data?.contentHash !== receipt.contentHash) {
    conflicts.push(receipt.key);
  }
  if (conflicts.length > 0) return { puts: [], updates: [], duplicates, conflicts };
  const changes = puts.length + updates.length > 0;
  return { puts: changes && !storedReceipt ? [receipt, ...puts] : puts, updates, duplicates, conflicts };
}

/** An id reused for another client, symbol or order content is a conflict, never an update. */
function sameOrder(current: OrderMeta, change: OrderChange): boolean {
  if (current.clientId !== change.clientId || current.symbol !== change.symbol) return false;
  return !change.submission || !current.orderHash || current.orderHash === change.submission.orderHash;
}

function latestPerOrder(changes: readonly OrderChange[]): OrderChange[] {
  const latest = new Map<string, OrderChange>();
  for (const c of changes) {
    const seen = latest.get(c.orderId);
    if (!seen || seen.version < c.version) latest.set(c.orderId, c);
  }
  return [...latest.values()];
}

/**
 * META moves to a newer version only. The one exception is an order's own submission arriving after a later
 * fill or cancel was recorded (executions run concurrently): its attributes are added, the newer status kept.
 */
function metaUpdate(change: OrderChange, current: OrderMeta | undefined): MetaUpdate | undefined {
  const newer = !current || current.version < change.version;
  const submission = change.submission && !current?.orderHash ? change.submission : undefined;
  if (!newer && !submission) return undefined;
  const quantity = submission?.quantity ?? current?.quantity ?? change.quantity;
  const set: Item = { ...submission?.attributes };
  if (!current)
    Object.assign(set, {
      entity: "ORDER",
      orderId: change.orderId,
      clientId: change.clientId,
      symbol: change.symbol,
      side: change.side,
    });
  if (newer) {
    Object.assign(set, {
      status: change.status,
      version: change.version,
      remainingQuantity: change.remainingQuantity,
      ...(change.cancelledQuantity === undefined ? {} : { cancelledQuantity: change.cancelledQuantity }),
      ...(change.tradeId === undefined ? {} : { lastTradeId: change.tradeId }),
    });
  }
  const state = newer ? change : current!;
  const filled =
    newer && change.filledQuantity !== undefined
      ? change.filledQuantity
      : quantity && difference(quantity, state.remainingQuantity, state.cancelledQuantity ?? "0");
  if (quantity) set.quantity = quantity;
  if (filled) set.filledQuantity = filled;
  return {
    key: orderKey(change.orderId),
    set,
    expectedVersion: current?.version,
    expectedSubmitted: Boolean(current?.orderHash),
  };
}

/** total - parts, exactly; undefined when any operand is not a decimal or the result would be negative. */
export function difference(total: string, ...parts: string[]): string | undefined {
  const values = [total, ...parts].map(parseDecimal);
  if (values.some((v) => v === null)) return undefined;
  const scale = Math.max(...values.map((v) => v!.scale));
  const [first, ...rest] = values.map((v) => v!.digits * 10n ** BigInt(scale - v!.scale));
  const left = rest.reduce((acc, v) => acc - v, first!);
  return left < 0n ? undefined : formatScaled(left, scale);
}
