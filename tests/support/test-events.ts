// Test support: one valid event of each kind, and an envelope builder for variations of them.
import {
  type AlphaTrade,
  type BetaTrade,
  DETAIL_TYPES,
  type GammaTrade,
  ORDER_SOURCE,
  type OrderCancelRequestedDetail,
  type OrderSubmittedDetail,
  type Venue,
  venueSource,
} from "@tradeflow/common/contracts";

export const EVENT_ID = "6a7e8feb-b491-4cf7-a9f1-bf3703467718";
export const EVENT_TIME = "2025-06-02T14:30:00Z";

type Detail = Record<string, unknown>;

/** base with changes applied; a change to undefined removes the field, as it would be absent in JSON. */
function changed(base: Detail, changes: Detail): Detail {
  const merged: Detail = { ...base, ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete merged[key];
  return merged;
}

export function envelope(source: string, detailType: string, detail: unknown, overrides: Detail = {}): Detail {
  const base = {
    version: "0",
    id: EVENT_ID,
    "detail-type": detailType,
    source,
    account: "123456789012",
    time: EVENT_TIME,
    region: "us-east-1",
    resources: [],
    detail,
  };
  return changed(base, overrides);
}

export const LIMIT_ORDER = {
  clientId: "C-1001",
  orderId: "O-1001",
  symbol: "AAPL",
  side: "BUY",
  type: "LIMIT",
  price: "150.05",
  quantity: "100",
  timeInForce: "GTC",
  postOnly: false,
} satisfies OrderSubmittedDetail;

export const CANCEL = { clientId: "C-1001", orderId: "O-1001", symbol: "AAPL" } satisfies OrderCancelRequestedDetail;

export const ALPHA_TRADE = {
  tradeId: "A-77001",
  symbol: "AAPL",
  side: "BUY",
  price: "150.25",
  quantity: "200",
  currency: "USD",
  executedAt: Date.parse("2025-06-02T14:29:58.250Z"),
  sequence: 77001,
} satisfies AlphaTrade;

export const BETA_TRADE = {
  trade_id: "B-5521",
  instrument_id: "AAPL",
  aggressor: "S",
  price_minor: 15020,
  price_scale: 2,
  quantity_minor: 50,
  quantity_scale: 0,
  currency_code: "USD",
  executed_at: "2025-06-02T14:29:59.125Z",
  seq_no: 5521,
} satisfies BetaTrade;

export const GAMMA_TRADE = {
  tradeId: "T12345",
  sourceSystem: "gamma",
  symbol: "AAPL",
  quantity: "10",
  amount: "1500.50",
  currency: "USD",
  tradeTime: "2025-06-02T10:29:57.5-04:00",
} satisfies GammaTrade;

export const orderEvent = (changes: Detail = {}, overrides: Detail = {}) =>
  envelope(ORDER_SOURCE, DETAIL_TYPES.orderSubmitted, changed(LIMIT_ORDER, changes), overrides);

export const cancelEvent = (changes: Detail = {}, overrides: Detail = {}) =>
  envelope(ORDER_SOURCE, DETAIL_TYPES.orderCancelRequested, changed(CANCEL, changes), overrides);

const VENUE_TRADES: Record<Venue, Detail> = { alpha: ALPHA_TRADE, beta: BETA_TRADE, gamma: GAMMA_TRADE };

export const tradeEvent = (venue: Venue, changes: Detail = {}, overrides: Detail = {}) =>
  envelope(venueSource(venue), DETAIL_TYPES.tradeReported, changed(VENUE_TRADES[venue], changes), overrides);
