// The EventBridge envelope as a Step Functions target receives it, and which source/detail-type pairs we take.
import * as z from "zod";
import { Identifier, IsoUtcTimestamp } from "./fields";

export const VENUES = ["alpha", "beta", "gamma"] as const;
export type Venue = (typeof VENUES)[number];

export const ORDER_SOURCE = "tradeflow.orders";
/** Orders from the trading API: API Gateway puts them on the bus with the token's subject as the client id. */
export const API_SOURCE = "tradeflow.api";
export const venueSource = (venue: Venue) => `tradeflow.venue.${venue}` as const;

export const DETAIL_TYPES = {
  orderSubmitted: "Order Submitted",
  orderCancelRequested: "Order Cancel Requested",
  orderAmendRequested: "Order Amend Requested",
  orderCancelAllRequested: "Order Cancel All Requested",
  tradeReported: "Trade Reported",
} as const;

export type OrderEventKind = "ORDER_SUBMIT" | "ORDER_CANCEL" | "ORDER_AMEND" | "ORDER_CANCEL_ALL";
export type EventKind = OrderEventKind | "TRADE";

export type EventRoute =
  | { readonly source: string; readonly detailType: string; readonly kind: OrderEventKind }
  | { readonly source: string; readonly detailType: string; readonly kind: "TRADE"; readonly venue: Venue };

export const EVENT_ROUTES: readonly EventRoute[] = [
  { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderSubmitted, kind: "ORDER_SUBMIT" },
  { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderCancelRequested, kind: "ORDER_CANCEL" },
  { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderAmendRequested, kind: "ORDER_AMEND" },
  { source: ORDER_SOURCE, detailType: DETAIL_TYPES.orderCancelAllRequested, kind: "ORDER_CANCEL_ALL" },
  { source: API_SOURCE, detailType: DETAIL_TYPES.orderSubmitted, kind: "ORDER_SUBMIT" },
  { source: API_SOURCE, detailType: DETAIL_TYPES.orderCancelRequested, kind: "ORDER_CANCEL" },
  ...VENUES.map((venue) => ({
    source: venueSource(venue),
    detailType: DETAIL_TYPES.tradeReported,
    kind: "TRADE" as const,
    venue,
  })),
];

export function routeOf(source: string, detailType: string): EventRoute | undefined {
  return EVENT_ROUTES.find((r) => r.source === source && r.detailType === detailType);
}

/** Orders and trades are small; anything bigger is a mistake or an attack, and is refused before parsing. */
export const MAX_DETAIL_BYTES = 8 * 1024;

/**
 * Not strict: EventBridge adds fields such as "replay-name" to replayed events. `executionId` is optional and
 * only there when the state machine passes $$.Execution.Id along; it is logged as a correlation id.
 */
export const EventEnvelopeSchema = z.object({
  version: z.literal("0"),
  id: Identifier,
  "detail-type": z.string().min(1).max(128),
  source: z.string().min(1).max(256),
  account: z.string().regex(/^\d{12}$/, "must be a 12-digit account id"),
  time: IsoUtcTimestamp,
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, "must be an AWS region such as us-east-1"),
  resources: z.array(z.string().max(2048)).max(20),
  // Checked on its own (shape, size), so that a missing detail reads as MALFORMED_DETAIL.
  detail: z.unknown().optional(),
  executionId: z.string().max(256).optional(),
});

export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;
